"""The ``static`` target without a deployment: zdm.toml checks, Astra bundles and connection parameters,
secrets kept out of every output, one-line errors in bounded time, the proxy status from its metrics.

Nothing here needs Cassandra or zdm-proxy: these run in CI on a clean clone. The target against real
endpoints is in ``test_static_target.py``.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cassandra.auth import PlainTextAuthProvider

from pytest_zdm.cql import cluster_parameters
from pytest_zdm.errors import SettingError, StartupError
from pytest_zdm.model import CqlEndpoint, Credentials, EnvironmentInfo
from pytest_zdm.runtime.ports import free_ports
from pytest_zdm.targets.static import StaticTarget
from pytest_zdm.targets.static.bundle import check_bundle
from pytest_zdm.targets.static.config import load
from pytest_zdm.targets.static.proxy_status import ProxyStatusWatch

from .static_files import make_bundle, tls_files, toml_for

ROOT = Path(__file__).resolve().parent.parent
GOOD = toml_for("127.0.0.1:9042", "127.0.0.2:9043", "127.0.0.3:9044", "http://127.0.0.3:14001")
TOKEN = "AstraCS:pytestzdm" + "x7Q" * 20  # a fake token, distinctive enough to grep for


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZDM_TEST_ORIGIN_PW", "origin-secret")
    monkeypatch.setenv("ZDM_TEST_TARGET_PW", "target-secret")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "zdm.toml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(SettingError) as err:
        load(_write(tmp_path, text))
    message = str(err.value)
    assert "\n" not in message, message
    assert message.startswith(f"zdm_static_config ({tmp_path / 'zdm.toml'}): "), message
    return message.split("): ", 1)[1]


# --- zdm.toml ------------------------------------------------------------------------------------------


def test_a_good_file_gives_endpoints_and_logins_from_the_environment(tmp_path, secrets):
    config = load(_write(tmp_path, GOOD.replace('"127.0.0.1:9042"', '"127.0.0.1:9042", "[::1]:9050"')))
    assert config.origin.cql() == CqlEndpoint("127.0.0.1", 9042, "datacenter1", more=(("::1", 9050),))
    assert str(config.origin.cql()) == "127.0.0.1:9042,[::1]:9050"
    assert config.metrics_url == "http://127.0.0.3:14001"
    logins = config.credentials()
    assert logins["origin"] == Credentials("cassandra", "origin-secret")
    assert logins["target"] == Credentials("cassandra", "target-secret")
    assert logins["proxy"] == logins["target"], "the proxy hands the client's login to the target"
    shown = repr(config) + repr(logins) + str(config.describe())
    assert "origin-secret" not in shown and "target-secret" not in shown


def test_the_proxy_can_have_a_login_of_its_own(tmp_path, secrets, monkeypatch):
    monkeypatch.setenv("ZDM_TEST_PROXY_PW", "proxy-secret")
    text = GOOD + 'username = "app"\npassword_env = "ZDM_TEST_PROXY_PW"\n'
    assert load(_write(tmp_path, text)).credentials()["proxy"] == Credentials("app", "proxy-secret")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("[origin]", "[orign]"),
            "orign: expected no such table or key; one of origin, target, proxy, keyspace "
            "(did you mean origin?)",
        ),
        (("[proxy]", "[other]"), "other: expected no such table"),
        (
            (
                'metrics_url = "http://127.0.0.3:14001"\n',
                'metrics_url = "http://127.0.0.3:14001"\nmetric_url = "x"\n',
            ),
            "proxy.metric_url: expected no such key; one of contact_points, metrics_url, local_dc, username, "
            "password_env, config, log (did you mean metrics_url?)",
        ),
        (
            ("127.0.0.2:9043", "127.0.0.2:90430"),
            'target.contact_points[0]: expected "host:port" with a port from 1 to 65535, '
            "got '127.0.0.2:90430'",
        ),
        (("127.0.0.2:9043", "127.0.0.2"), 'target.contact_points[0]: expected "host:port"'),
        (("127.0.0.2:9043", "127.0.0.2:0"), 'target.contact_points[0]: expected "host:port"'),
        (("127.0.0.2:9043", "::1:9043"), 'target.contact_points[0]: expected "host:port"'),
        (('["127.0.0.3:9044"]', "[]"), "proxy.contact_points: expected a non-empty list"),
        (
            ('"http://127.0.0.3:14001"', '"127.0.0.3:14001"'),
            "proxy.metrics_url: expected the proxy's metrics/health endpoint as http://host:port",
        ),
        (('"http://127.0.0.3:14001"', '"http://127.0.0.3:99999"'), "proxy.metrics_url: expected"),
        (('"http://127.0.0.3:14001"', '"http://127.0.0.3:14001/metrics"'), "proxy.metrics_url: expected"),
        (
            ('password_env = "ZDM_TEST_ORIGIN_PW"', 'password = "hunter2"'),
            "origin.password: secrets are never read from the file; put it in an environment variable and "
            "name that variable with origin.password_env",
        ),
        (
            ('password_env = "ZDM_TEST_ORIGIN_PW"', 'password_env = "not a name"'),
            "origin.password_env: expected the name of an environment variable",
        ),
        (
            (
                'local_dc = "datacenter1"\nusername = "cassandra"\npassword_env = "ZDM_TEST_TARGET_PW"',
                'username = "cassandra"\npassword_env = "ZDM_TEST_TARGET_PW"',
            ),
            "target.local_dc: expected a non-empty string",
        ),
        (
            ('contact_points = ["127.0.0.1:9042"]\n', ""),
            "origin: expected either contact_points (with local_dc, username, password_env) or "
            "secure_connect_bundle (with token_env), got 'neither'",
        ),
        (
            (
                'contact_points = ["127.0.0.1:9042"]\n',
                'contact_points = ["127.0.0.1:9042"]\ntoken_env = "T"\n',
            ),
            "origin.token_env: expected token_env only with secure_connect_bundle",
        ),
        (
            ('contact_points = ["127.0.0.1:9042"]', "contact_points = 9042"),
            'origin.contact_points: expected a non-empty list of "host:port" strings, got 9042',
        ),
        (
            ('local_dc = "datacenter1"\nusername', 'local_dc = "datacenter1"\nusername = "a"\nusername'),
            "expected TOML: Cannot overwrite a value (at line 5",
        ),
    ],
)
def test_a_bad_file_is_one_line_naming_the_key_and_what_was_expected(tmp_path, change, expected):
    old, new = change
    assert old in GOOD
    assert _error(tmp_path, GOOD.replace(old, new, 1)).startswith(expected)


def test_a_missing_proxy_table_names_what_it_needs(tmp_path):
    text = GOOD[: GOOD.index("[proxy]")]
    assert _error(tmp_path, text) == (
        "proxy: expected a [proxy] table with contact_points (its CQL endpoints) and metrics_url "
        "(http://host:14001)"
    )
    assert (
        _error(tmp_path, 'proxy = "10.0.0.1:9042"\n' + text)
        == "proxy: expected a [proxy] table, got '10.0.0.1:9042'"
    )


def test_a_missing_file_and_a_missing_secret_are_one_line_too(tmp_path, monkeypatch):
    with pytest.raises(SettingError, match=r"^zdm_static_config: expected the path of an existing zdm.toml"):
        load(tmp_path / "nothing.toml")
    monkeypatch.delenv("ZDM_TEST_TARGET_PW", raising=False)
    monkeypatch.setenv("ZDM_TEST_ORIGIN_PW", "x")
    with pytest.raises(SettingError) as err:
        load(_write(tmp_path, GOOD)).credentials()
    assert str(err.value).endswith(
        "target.password_env: expected the environment variable ZDM_TEST_TARGET_PW to hold the password, "
        "but it is not set (or empty)"
    )


def test_the_example_file_is_valid(tmp_path, tls, monkeypatch):
    """examples/zdm.toml (shown in docs/targets.md) loads once its bundle and secrets exist."""
    shutil.copy(ROOT / "examples" / "zdm.toml", tmp_path / "zdm.toml")
    (tmp_path / "zdm-proxy.yaml").write_text("primary_cluster: ORIGIN\nread_mode: PRIMARY_ONLY\n")
    log = Path("/var/log/zdm-proxy/zdm-proxy.log")
    text = (tmp_path / "zdm.toml").read_text().replace(str(log), str(tmp_path / "zdm-proxy.log"))
    (tmp_path / "zdm.toml").write_text(text)
    (tmp_path / "zdm-proxy.log").write_text("")
    make_bundle(tmp_path / "secure-connect-orders.zip", tls, config={"host": "db.example", "port": 29080})
    monkeypatch.setenv("ZDM_ORIGIN_PASSWORD", "p")
    monkeypatch.setenv("ASTRA_DB_TOKEN", TOKEN)
    config = load(tmp_path / "zdm.toml")
    assert [str(config.endpoint(s).cql()) for s in ("origin", "target", "proxy")] == [
        "10.20.0.11:9042,10.20.0.12:9042",
        "secure connect bundle secure-connect-orders.zip",
        "10.20.5.31:9042",
    ]
    assert config.credentials()["target"] == Credentials("token", TOKEN)
    assert config.credentials()["proxy"] == Credentials("token", TOKEN)
    readme = (ROOT / "docs" / "targets.md").read_text()
    assert (ROOT / "examples" / "zdm.toml").read_text() in readme, (
        "docs/targets.md's zdm.toml differs from the example"
    )


# --- Astra secure connect bundles ----------------------------------------------------------------------


def _bundle_error(path: Path) -> str:
    with pytest.raises(SettingError) as err:
        check_bundle(path, "target.secure_connect_bundle")
    message = str(err.value)
    assert "\n" not in message and message.startswith(
        "target.secure_connect_bundle: expected an Astra secure connect bundle (zip with config.json, "
        "ca.crt, cert, key), but "
    ), message
    return message


def test_a_valid_bundle_passes_and_says_where_it_leads(tmp_path, tls):
    info = check_bundle(
        make_bundle(tmp_path / "b.zip", tls, config={"host": "h.example", "port": 29080}), "x"
    )
    assert (info.metadata_host, info.metadata_port) == ("h.example", 29080)


def test_a_missing_or_corrupt_bundle_is_one_line(tmp_path, tls):
    assert "does not exist" in _bundle_error(tmp_path / "none.zip")
    (tmp_path / "text.zip").write_text("not a zip")
    assert "is not a zip file" in _bundle_error(tmp_path / "text.zip")
    assert "has no key" in _bundle_error(make_bundle(tmp_path / "nokey.zip", tls, leave_out=("key",)))
    assert "config.json is not JSON" in _bundle_error(
        make_bundle(tmp_path / "badjson.zip", tls, replace={"config.json": b"{oops"})
    )
    assert "config.json is not JSON" in _bundle_error(
        make_bundle(tmp_path / "noport.zip", tls, config={"host": "h"})
    )
    assert "ca.crt is not a PEM certificate" in _bundle_error(
        make_bundle(tmp_path / "badca.zip", tls, replace={"ca.crt": b"garbage"})
    )
    assert "cert and key are not a matching" in _bundle_error(
        make_bundle(tmp_path / "badkey.zip", tls, replace={"key": b"-----BEGIN PRIVATE KEY-----\nAAAA\n"})
    )
    damaged = make_bundle(tmp_path / "damaged.zip", tls)
    data = bytearray(damaged.read_bytes())
    data[data.index(b'"host"') + 1] ^= 0x20  # a byte of the stored config.json: its CRC no longer matches
    damaged.write_bytes(bytes(data))
    assert "is damaged (config.json fails its checksum)" in _bundle_error(damaged)


def test_a_bad_bundle_in_zdm_toml_names_the_key(tmp_path, tls):
    (tmp_path / "broken.zip").write_text("x")
    text = GOOD.replace(
        'contact_points = ["127.0.0.2:9043"]\nlocal_dc = "datacenter1"\nusername = "cassandra"\n'
        'password_env = "ZDM_TEST_TARGET_PW"',
        'secure_connect_bundle = "broken.zip"\ntoken_env = "ZDM_TEST_TOKEN"',
    )
    assert _error(tmp_path, text).startswith(
        "target.secure_connect_bundle: expected an Astra secure connect bundle"
    )
    bad = text.replace('token_env = "ZDM_TEST_TOKEN"', 'token_env = "ZDM_TEST_TOKEN"\nusername = "u"')
    assert _error(tmp_path, bad).startswith(
        "target.username: expected no username with secure_connect_bundle"
    )


def test_astra_connection_parameters(tmp_path, tls, monkeypatch):
    """What the driver is given for an Astra endpoint: the bundle via cloud=, the token as password."""
    bundle = make_bundle(tmp_path / "scb.zip", tls)
    monkeypatch.setenv("ZDM_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("ZDM_TEST_ORIGIN_PW", "p")
    text = GOOD.replace(
        'contact_points = ["127.0.0.2:9043"]\nlocal_dc = "datacenter1"\nusername = "cassandra"\n'
        'password_env = "ZDM_TEST_TARGET_PW"',
        'secure_connect_bundle = "scb.zip"\ntoken_env = "ZDM_TEST_TOKEN"',
    )
    config = load(_write(tmp_path, text))
    endpoint, login = config.target.cql(), config.credentials()["target"]
    params = cluster_parameters(endpoint, login, connect_timeout=7.0, protocol_version=4)
    assert params["cloud"] == {
        "secure_connect_bundle": str(bundle),
        "connect_timeout": 7.0,
        "use_default_tempdir": True,
    }
    assert "contact_points" not in params and "port" not in params, "the driver refuses both with cloud="
    auth = params["auth_provider"]
    assert isinstance(auth, PlainTextAuthProvider)
    assert (auth.username, auth.password) == ("token", TOKEN)
    assert params["connect_timeout"] == params["control_connection_timeout"] == 7.0
    shown = repr(params) + repr(endpoint) + repr(login) + repr(config) + str(endpoint)
    assert TOKEN not in shown
    info = EnvironmentInfo(
        "static", config.origin.cql(), endpoint, config.proxy.cql(), "http://x:1", {"target": "token"}
    )
    assert TOKEN not in str(info.to_json()) and EnvironmentInfo.from_json(info.to_json()) == info
    plain = cluster_parameters(config.origin.cql(), config.credentials()["origin"])
    assert plain["contact_points"] == [("127.0.0.1", 9042)] and "cloud" not in plain


# --- the target's own errors, through pytest ------------------------------------------------------------

USES_ENV = "def test_env(zdm_env):\n    pass\n"


def test_a_bad_zdm_toml_is_a_usage_error_without_traceback(pytester, secrets):
    pytester.makefile(".toml", zdm=GOOD.replace("127.0.0.2:9043", "127.0.0.2:http"))
    pytester.makepyfile(USES_ENV)
    result = pytester.runpytest("--zdm-target=static", "--zdm-static-config=zdm.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == (
        f"ERROR: zdm_static_config ({pytester.path / 'zdm.toml'}): target.contact_points[0]: "
        "expected \"host:port\" with a port from 1 to 65535, got '127.0.0.2:http'"
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_an_unset_secret_is_a_usage_error_before_anything_runs(pytester, monkeypatch):
    monkeypatch.delenv("ZDM_TEST_ORIGIN_PW", raising=False)
    pytester.makefile(".toml", zdm=GOOD)
    pytester.makepyfile(USES_ENV)
    result = pytester.runpytest("--zdm-target=static")  # zdm.toml in the rootdir is the default
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: *origin.password_env: expected the environment variable ZDM_TEST_ORIGIN_PW*"]
    )


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never answers (a hung or wrong service)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.parametrize("kind", ["closed port", "silent listener"])
def test_an_unreachable_endpoint_is_one_line_in_bounded_time(pytester, secrets, kind, request):
    port = request.getfixturevalue("silent_listener") if kind == "silent listener" else free_ports(1)[0]
    pytester.makefile(
        ".toml", zdm=toml_for(f"127.0.0.1:{port}", "127.0.0.1:2", "127.0.0.1:3", "http://127.0.0.1:4")
    )
    checks = pytester.makepyfile(USES_ENV)
    began = time.monotonic()
    result = pytester.runpytest_subprocess(
        checks, "--zdm-target=static", "-p", "no:cacheprovider", timeout=120
    )
    elapsed = time.monotonic() - began
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    line = next(x for x in out.splitlines() if "zdm environment unavailable" in x)
    assert re.search(
        rf"zdm_static_config \(.*zdm.toml\): origin.contact_points: expected a Cassandra cluster at "
        rf"127.0.0.1:{port} accepting the login of 'cassandra' within 10s, got ",
        line,
    ), line
    assert "Traceback" not in out
    assert elapsed < 60, f"took {elapsed:.0f}s"


def test_the_astra_token_never_appears_in_any_output(pytester, tls, monkeypatch):
    """A whole run with a token set (Astra unreachable here: its metadata service is a closed port).

    Everything is captured: pytest's output with the driver's DEBUG logs shown live, the JUnit report and
    every file the run left in its run directory.
    """
    closed = free_ports(1)[0]
    make_bundle(pytester.path / "scb.zip", tls, config={"host": "127.0.0.1", "port": closed})
    monkeypatch.setenv("ZDM_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("ZDM_TEST_PROXY_PW", TOKEN + "-proxy")
    astra = '[{side}]\nsecure_connect_bundle = "scb.zip"\ntoken_env = "ZDM_TEST_TOKEN"\n'
    pytester.makefile(
        ".toml",
        zdm=astra.format(side="origin")
        + astra.format(side="target")
        + '[proxy]\ncontact_points = ["127.0.0.1:1"]\nmetrics_url = "http://127.0.0.1:1"\n'
        'username = "token"\npassword_env = "ZDM_TEST_PROXY_PW"\n',
    )
    checks = pytester.makepyfile(USES_ENV + "def test_sessions(origin_session, proxy_session):\n    pass\n")
    result = pytester.runpytest_subprocess(
        checks, "--zdm-target=static", "-p", "no:cacheprovider", "-o", "log_cli=true",
        "--log-cli-level=DEBUG", "--junitxml=junit.xml", "-rA", timeout=120,
    )  # fmt: skip
    result.assert_outcomes(errors=1)  # the run stops at the first check: the others would fail alike
    out = result.stdout.str() + result.stderr.str()
    assert (
        "origin.secure_connect_bundle: expected a Cassandra cluster at secure connect bundle scb.zip" in out
    )
    assert "Unable to connect to the metadata service" in out
    assert TOKEN[:30] not in out
    files = [p for p in pytester.path.rglob("*") if p.is_file() and p.suffix != ".zip"]
    assert any(p.name == "env.json" or p.name == "failed.txt" for p in files)
    leaked = [str(p) for p in files if TOKEN[:30].encode() in p.read_bytes()]
    assert leaked == [], f"the token is in {leaked}"


# --- the proxy's status from its metrics endpoint --------------------------------------------------------


class _FakeProxyMetrics(BaseHTTPRequestHandler):
    start_time = 1_700_000_000.25

    def do_GET(self) -> None:
        body = f"# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {self.start_time}\n"
        self.send_response(200 if self.path == "/metrics" else 404)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        del args


def test_proxy_restarts_are_seen_in_its_start_time_and_a_silent_proxy_is_not_running():
    """Counting logic against a served metrics page; the real proxy's restart is in test_static_target."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeProxyMetrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    watch = ProxyStatusWatch(f"http://127.0.0.1:{server.server_address[1]}", timeout=2)
    try:
        assert watch.status()["starts"] == 1 and watch.status()["starts"] == 1
        _FakeProxyMetrics.start_time += 30
        status = watch.status()
        assert status["starts"] == 2 and status["running"] is True
    finally:
        server.shutdown()
        server.server_close()
    status = watch.status()
    assert status["running"] is False and status["starts"] == 2
    assert status["reason"].startswith("zdm-proxy does not answer on its metrics endpoint")


def test_a_metrics_url_that_is_not_the_proxys_is_refused(tmp_path, secrets):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeProxyMetrics)  # /health/readiness: 404
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        config = load(_write(tmp_path, GOOD.replace("http://127.0.0.3:14001", url)))
        with pytest.raises(
            StartupError,
            match=r"proxy.metrics_url: expected zdm-proxy's metrics/health endpoint at .*, "
            r"but .*/health/readiness answered HTTP 404",
        ):
            StaticTarget._check_metrics(config)
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(StartupError, match=r"proxy.metrics_url: .* got no answer within 10s"):
        StaticTarget._check_metrics(config)
