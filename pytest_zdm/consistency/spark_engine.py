"""The comparison as a Spark job: both tables read by the Spark Cassandra Connector, the same Report back.

How it finds differences without shuffling every row:

1. **Digests** (one scan of each table). Each row becomes a 64-bit and a 32-bit hash of its key, every
   compared column (a null flag beside each, so ``(null, 1)`` and ``(1, null)`` differ; sets and maps
   sorted first, because the connector does not keep their order) and, on request, its WRITETIME. Rows are
   put into ``BUCKETS`` buckets by their partition key; each bucket's row count and the XOR of its hashes
   are aggregated where the rows are read, so only ``BUCKETS`` small records per table are shuffled. A
   bucket whose count or digests differ between the clusters holds a difference; one that agrees holds
   none, unless 96-bit hashes collide.
2. **Join** (a second scan, only when a bucket differs, or always with ``ttl=True``: TTLs tick down while
   the clusters are read, so they are compared within ``ttl_tolerance`` row by row, never hashed). Rows of
   the differing buckets are joined on the primary key (full outer, null-safe): missing on either side,
   regular columns differing, static columns differing (per partition). Only those rows are kept (persisted)
   and counted.
3. **Through the drivers**, as the one-process engine: the differing rows (at most ``max_differences``) are
   read from both clusters after ``settle_seconds`` and compared by the same code (``merge.diff_groups``),
   so the :class:`Report` holds driver values, statics are reported on the first row of a partition present
   on both clusters, and writes that were in flight during the scan are resolved. Repair, when asked for,
   is the one-process engine's (through the driver, with the original write times).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from pytest_zdm.consistency.engine import Progress, _build, _key_where, _tuple_rows, finish
from pytest_zdm.consistency.report import MISMATCH, MISSING_ON_ORIGIN, MISSING_ON_TARGET, Difference, Report
from pytest_zdm.consistency.schema import TableShape, table_shape
from pytest_zdm.consistency.spark_keys import driver_key
from pytest_zdm.consistency.spark_session import CATALOG_CLASS, EXTENSIONS, require_pyspark
from pytest_zdm.errors import ZdmError
from pytest_zdm.runtime.wait import wait_until

#: Buckets of phase 1: enough that one differing row sends a small share of the table to the join, few
#: enough that the per-bucket digests stay a few hundred kilobytes.
BUCKETS = 4096
_KINDS = {1: MISSING_ON_TARGET, 2: MISSING_ON_ORIGIN, 3: MISMATCH}


def connector_options(session: Any) -> dict[str, str]:
    """Connector settings that reach the cluster a driver session is connected to, with its login.

    Contact points and port (or the Astra bundle), the local datacenter of the session's load balancing,
    and the user name and password of its plain-text auth provider. They go to a Spark catalog of their
    own; the password never enters a query plan, and Spark redacts settings named ``*password*``.
    """
    cluster = session.cluster
    options: dict[str, str] = {}
    cloud = getattr(cluster, "cloud", None)
    if cloud:
        options["spark.cassandra.connection.config.cloud.path"] = str(cloud["secure_connect_bundle"])
    else:
        points = [p if isinstance(p, tuple) else (p, cluster.port) for p in cluster.contact_points]
        ports = {int(port) for _, port in points}
        if len(ports) == 1:  # the connector's form for one port; host:port for several (IPv4 only)
            options["spark.cassandra.connection.host"] = ",".join(str(h) for h, _ in points)
            options["spark.cassandra.connection.port"] = str(ports.pop())
        else:
            options["spark.cassandra.connection.host"] = ",".join(f"{h}:{port}" for h, port in points)
    policy = cluster.profile_manager.default.load_balancing_policy
    while policy is not None and getattr(policy, "local_dc", None) is None:
        policy = getattr(policy, "_child_policy", None)
    if policy is not None and policy.local_dc:
        options["spark.cassandra.connection.localDC"] = str(policy.local_dc)
    auth = cluster.auth_provider
    if auth is not None and hasattr(auth, "username"):
        options["spark.cassandra.auth.username"] = str(auth.username)
        options["spark.cassandra.auth.password"] = str(auth.password)
    return options


def register_catalog(spark: Any, side: str, options: dict[str, str]) -> tuple[str, list[str]]:
    """Register a catalog for one cluster; returns its name and the conf keys holding secrets.

    The name is derived from the settings, so a session comparing the same clusters again reuses the
    catalog (and its connections) and different clusters never get a stale one.
    """
    digest = hashlib.sha256(repr(sorted(options.items())).encode()).hexdigest()[:12]
    name = f"zdm_{side}_{digest}"
    prefix = f"spark.sql.catalog.{name}"
    spark.conf.set(prefix, CATALOG_CLASS)
    secrets = []
    for key, value in options.items():
        spark.conf.set(f"{prefix}.{key}", value)
        if "password" in key:
            secrets.append(f"{prefix}.{key}")
    return name, secrets


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _value_expr(ref: str, spark_type: Any, cql_type: str) -> str:
    """A hashable rendering of a column that ignores element order.

    Sets and maps are sorted: the connector does not keep Cassandra's order.
    """
    from pyspark.sql.types import ArrayType, MapType

    if isinstance(spark_type, MapType):
        return f"transform(array_sort(map_keys({ref})), k -> struct(k, {ref}[k]))"
    if isinstance(spark_type, ArrayType) and cql_type.replace("frozen<", "").startswith("set<"):
        return f"array_sort({ref})"
    return ref


def _hash_args(columns: list[tuple[str, str]]) -> str:
    """``xxhash64``/``hash`` arguments: each value and its null flag (the functions skip nulls)."""
    parts = []
    for expr, ref in columns:
        parts += [expr, f"isnull({ref})"]
    return ", ".join(parts) or "0"


class _Plan:
    """The Spark side of one comparison: what each table's scan selects and how rows are digested.

    Two projections: the first reads the columns and their ``writetime()`` / ``ttl()`` (the connector's
    functions, pushed down into the scan), the second digests them.
    """

    def __init__(self, shape: TableShape, schema: Any, *, writetime: bool, ttl: bool) -> None:
        self.shape = shape
        types = {f.name: f.dataType for f in schema.fields}
        self.keys = [f"k{i}" for i in range(len(shape.key))]
        self.read = [f"{_q(c)} AS k{i}" for i, c in enumerate(shape.key)]
        hashed: dict[str, list[tuple[str, str]]] = {"static": [], "regular": []}
        self.ttls: dict[str, list[str]] = {"static": [], "regular": []}
        for i, column in enumerate(shape.values):
            group = "static" if column in shape.static else "regular"
            self.read.append(f"{_q(column)} AS v{i}")
            hashed[group].append((_value_expr(f"v{i}", types[column], shape.cql_types[column]), f"v{i}"))
            if shape.supports_cell_metadata(column):
                if writetime:
                    self.read.append(f"writetime({_q(column)}) AS w{i}")
                    hashed[group].append((f"w{i}", f"w{i}"))
                if ttl:
                    self.read.append(f"ttl({_q(column)}) AS t{i}")
                    self.ttls[group].append(f"t{i}")
        everything = [(k, k) for k in self.keys] + hashed["regular"] + hashed["static"]
        pk = ", ".join(self.keys[: len(shape.partition_key)])
        self.select = [
            *self.keys,
            *self.ttls["regular"],
            *self.ttls["static"],
            f"xxhash64({_hash_args(hashed['regular'])}) AS hr",
            f"xxhash64({_hash_args(hashed['static'])}) AS hs",
            f"xxhash64({_hash_args(everything)}) AS h1",
            f"hash({_hash_args(everything)}) AS h2",
            f"pmod(xxhash64({pk}), {BUCKETS}) AS bucket",
        ]


def _frame(spark: Any, catalog: str, plan: _Plan) -> Any:
    table = f"{catalog}.{_q(plan.shape.keyspace)}.{_q(plan.shape.table)}"
    return spark.table(table).selectExpr(*plan.read).selectExpr(*plan.select)


def _buckets(origin: Any, target: Any) -> tuple[list[int], int]:
    """Phase 1: buckets whose digests differ, and the target's row count."""
    from pyspark.sql import functions as F

    def digest(frame: Any, side: str) -> Any:
        return frame.groupBy("bucket").agg(
            F.count(F.lit(1)).alias(f"n_{side}"),
            F.bit_xor("h1").alias(f"x_{side}"),
            F.bit_xor(F.col("h2").cast("long")).alias(f"y_{side}"),
        )

    rows = digest(origin, "o").join(digest(target, "t"), "bucket", "full_outer").collect()
    bad = sorted(
        r["bucket"] for r in rows if (r["n_o"], r["x_o"], r["y_o"]) != (r["n_t"], r["x_t"], r["y_t"])
    )
    return bad, sum(r["n_t"] or 0 for r in rows)


def _flagged(origin: Any, target: Any, plan: _Plan, bad: list[int] | None, ttl_tolerance: float) -> Any:
    """Phase 2: rows of the differing buckets that differ, with a kind code and a static flag."""
    from pyspark.sql import functions as F

    columns = [*plan.keys, "hr", "hs", *plan.ttls["regular"], *plan.ttls["static"]]
    sides = []
    for frame, side in ((origin, "o"), (target, "t")):
        if bad is not None:
            frame = frame.where(F.col("bucket").isin(bad))
        renamed = [F.col(c).alias(f"{c}_{side}") for c in columns]
        sides.append(frame.select(*renamed, F.expr("true").alias(side)))
    on = [F.col(f"{k}_o").eqNullSafe(F.col(f"{k}_t")) for k in plan.keys]
    joined = sides[0].join(sides[1], on, "full_outer")
    both = F.col("o").isNotNull() & F.col("t").isNotNull()

    def ttl_differs(names: list[str]) -> Any:
        out = F.expr("false")
        for t in names:
            out = out | (F.abs(F.coalesce(F.col(f"{t}_o"), F.lit(0)) - F.coalesce(F.col(f"{t}_t"), F.lit(0)))
                         > ttl_tolerance)  # fmt: skip
        return out

    regular = (F.col("hr_o") != F.col("hr_t")) | ttl_differs(plan.ttls["regular"])
    static = both & ((F.col("hs_o") != F.col("hs_t")) | ttl_differs(plan.ttls["static"]))
    kind = F.when(F.col("t").isNull(), 1).when(F.col("o").isNull(), 2).when(regular, 3).otherwise(0)
    keys = [F.coalesce(F.col(f"{k}_o"), F.col(f"{k}_t")).alias(k) for k in plan.keys]
    return joined.select(*keys, kind.alias("kind"), static.alias("static")).where("kind > 0 OR static")


def _static_carriers(
    origin: Any, target: Any, shape: TableShape, partitions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """For each partition whose statics differ, its first row (clustering order) present on both clusters.

    That is the row the one-process engine reports a static difference on. Read through the drivers, so the
    order is Cassandra's (Spark orders uuid and inet columns as strings).
    """
    if not shape.clustering:
        return partitions
    pk_where = " AND ".join(f'"{c}" = ?' for c in shape.partition_key)
    keys = ", ".join(f'"{c}"' for c in shape.key)
    walk = origin.prepare(f"SELECT {keys} FROM {shape.quoted} WHERE {pk_where}")
    walk.fetch_size = 500
    probe = target.prepare(f"SELECT {keys} FROM {shape.quoted} WHERE {_key_where(shape)}")
    o_profile, t_profile = _tuple_rows(origin), _tuple_rows(target)
    carriers = []
    for partition in partitions:
        values = tuple(partition[c] for c in shape.partition_key)
        for row in origin.execute(walk, values, execution_profile=o_profile):
            if target.execute(probe, tuple(row), execution_profile=t_profile).one() is not None:
                carriers.append(dict(zip(shape.key, row, strict=True)))
                break
    return carriers


def _visible(spark: Any, names: dict[str, str], keyspace: str, table: str) -> Any:
    """The table's Spark schema once both catalogs see the table (the drivers already do).

    The connector's driver learns of a table created a moment ago only after its schema debounce window
    (about a second), so a table the framework's own sessions see may not be in the catalog yet.
    """
    from pyspark.errors import AnalysisException

    def schemas() -> Any:
        found = [spark.table(f"{names[side]}.{_q(keyspace)}.{_q(table)}").schema for side in names]
        return found[0]

    return wait_until(schemas, timeout=30, interval=0.5, retry_on=(AnalysisException,),
                      what=f"the Spark catalogs to see {keyspace}.{table}")  # fmt: skip


def compare_spark(
    origin: Any,
    target: Any,
    keyspace: str,
    table: str,
    *,
    spark: Any,
    writetime: bool = False,
    ttl: bool = False,
    ttl_tolerance: float = 2.0,
    page_size: int = 2000,
    max_rows_per_second: float | None = None,
    recheck: bool = True,
    settle_seconds: float = 2.0,
    repair: bool = False,
    max_differences: int = 100_000,
    origin_options: dict[str, str] | None = None,
    target_options: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> Report:
    """Compare ``keyspace.table`` with a Spark job on ``spark`` (a SparkSession with the connector).

    ``origin`` and ``target`` are driver sessions: the connector reaches the same clusters with the same
    login (``connector_options``; ``origin_options`` / ``target_options`` add or override connector
    settings, e.g. TLS), and the differing rows are read through them. The connector decides the token-range
    splits (``spark.cassandra.input.split.sizeInMB``); ``page_size`` is its fetch size and
    ``max_rows_per_second`` becomes its ``readsPerSec`` per core. See the module docstring for the job.
    """
    require_pyspark()
    began = time.monotonic()
    keyspace, table = str(keyspace), str(table)  # a run's Keyspace is a str subclass: plain for Py4J and CQL
    say = progress or (lambda _: None)
    shape = table_shape(origin, keyspace, table)
    table_shape(target, keyspace, table)  # a one-line error if the target lacks the table
    query = _build(shape, writetime=writetime or repair, ttl=ttl or repair, ttl_tolerance=ttl_tolerance)
    report = Report(keyspace, table, splits_total=0, options={"engine": "spark", "writetime": writetime,
                                                              "ttl": ttl, "repair": repair})  # fmt: skip
    cores = max(1, int(spark.sparkContext.defaultParallelism))
    read = {"spark.cassandra.input.fetch.sizeInRows": str(page_size)}
    if max_rows_per_second:
        read["spark.cassandra.input.readsPerSec"] = str(max(1, int(max_rows_per_second / page_size / cores)))
    secrets: list[str] = []
    cached = None
    try:
        names = {}
        for side, session, extra in (("origin", origin, origin_options), ("target", target, target_options)):
            settings = {**connector_options(session), **read, **(extra or {})}
            names[side], hidden = register_catalog(spark, side, settings)
            secrets += hidden
        schema = _visible(spark, names, keyspace, table)
        plan = _Plan(shape, schema, writetime=writetime, ttl=ttl)
        frames = {side: _frame(spark, name, plan) for side, name in names.items()}
        report.splits_total = report.splits_scanned = frames["origin"].rdd.getNumPartitions()
        report.options["spark_master"] = spark.sparkContext.master
        say(f"{keyspace}.{table}: Spark scan of both clusters ({report.splits_total} token-range splits)")
        bad, target_rows = _buckets(frames["origin"], frames["target"])
        if ttl:
            bad_or_all: list[int] | None = None
        else:
            bad_or_all = bad
        found_rows: list[Any] = []
        statics: list[Any] = []
        missing_on_target = 0
        if bad or ttl:
            say(f"{keyspace}.{table}: joining the rows of {len(bad)} of {BUCKETS} buckets that differ"
                + (" (and every row, for TTLs)" if ttl else ""))  # fmt: skip
            cached = _flagged(frames["origin"], frames["target"], plan, bad_or_all, ttl_tolerance).persist()
            groups = cached.groupBy("kind", "static").count().collect()
            counts = {(r["kind"], r["static"]): r["count"] for r in groups}
            missing_on_target = sum(n for (kind, _), n in counts.items() if kind == 1)
            found_rows = cached.where("kind > 0").select(*plan.keys, "kind").limit(max_differences).collect()
            if any(s for (_, s) in counts):
                pk = plan.keys[: len(shape.partition_key)]
                statics = cached.where("static").select(*pk).distinct().limit(max_differences).collect()
        report.rows_compared = target_rows + missing_on_target
    except ZdmError:
        raise
    except Exception as exc:
        raise ZdmError(_spark_error(exc)) from None
    finally:
        if cached is not None:
            cached.unpersist()
        for key in secrets:
            spark.conf.unset(key)
    found = [Difference(_KINDS[r["kind"]], driver_key(shape, [r[k] for k in plan.keys])) for r in found_rows]
    partitions = [driver_key(shape, list(r), partition_only=True) for r in statics]
    seen = {repr(tuple(d.key.values())) for d in found}
    room = max(0, max_differences - len(found))
    for carrier in _static_carriers(origin, target, shape, partitions[:room]):
        if repr(tuple(carrier.values())) not in seen:
            found.append(Difference(MISMATCH, carrier))
    # Spark found keys only: the drivers read the rows again (after the settle time when rechecking).
    return finish(
        origin, target, shape, query, found, report,
        recheck=recheck, reread=True, settle_seconds=settle_seconds, repair=repair,
        progress=progress, began=began,
    )  # fmt: skip


def _spark_error(exc: BaseException) -> str:
    """One line from a Spark/Py4J failure, with the likely fix for a session without the connector."""
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0][:300]
    if "CassandraCatalog" in text or "ClassNotFound" in text:
        return f"the SparkSession lacks the Spark Cassandra Connector ({text})"
    if "writetime" in text.lower() or "ttl" in text.lower():
        return f"the SparkSession lacks spark.sql.extensions={EXTENSIONS} ({text})"
    return f"the Spark job failed: {text}"


__all__ = ["BUCKETS", "compare_spark", "connector_options", "register_catalog"]
