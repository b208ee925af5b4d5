"""Pure decisions: mode selection, token order, URLs and headers, bodies, error mapping, retries,
WebSocket frames, claim outcomes. No server."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from sandbank import _http, _protocol, errors
from sandbank._kube import ClaimSpec, claim_outcome, new_claim_name
from sandbank._portforward import PortForward, kubectl_path
from sandbank._route import Mode, resolve_token, select_mode
from sandbank.process import Output, decode_frame


class TestModes:
    def test_api_url_wins_then_gateway_then_dev(self) -> None:
        assert select_mode("http://router:8080", "gw") is Mode.DIRECT
        assert select_mode(None, "gw") is Mode.GATEWAY
        assert select_mode(None, None) is Mode.DEV
        assert select_mode("", "") is Mode.DEV

    def test_a_url_without_a_scheme_names_the_argument(self) -> None:
        with pytest.raises(errors.ConfigurationError, match="api_url: must start with http"):
            select_mode("router:8080", None)


class TestToken:
    def test_order_is_argument_env_secret_and_never_the_kubeconfig(self) -> None:
        calls: list[str] = []

        def secret() -> str | None:
            calls.append("secret")
            return "from-secret"

        env = {"SANDBANK_ROUTER_TOKEN": "from-env"}
        assert resolve_token("explicit", env, secret=secret) == "explicit"
        assert resolve_token(None, env, secret=secret) == "from-env"
        assert calls == []
        assert resolve_token(None, {}, secret=secret) == "from-secret"
        assert resolve_token(None, {}, secret=lambda: None) is None
        assert resolve_token(None, {}, secret=None) is None


class TestRequests:
    def test_legacy_headers_name_the_claim_and_round_the_timeout_up(self) -> None:
        h = _protocol.legacy_headers("sandbox-claim-1a2b3c4d", "team-a", 8888, "tok", 1.2)
        assert h == {
            "X-Sandbox-ID": "sandbox-claim-1a2b3c4d",
            "X-Sandbox-Namespace": "team-a",
            "X-Sandbox-Port": "8888",
            "X-Sandbox-Timeout": "2",
            "Authorization": "Bearer tok",
        }
        assert "Authorization" not in _protocol.legacy_headers("c", "ns")

    def test_paths_are_one_encoded_segment(self) -> None:
        assert _protocol.quote_path("dir/a b?.txt") == "dir%2Fa%20b%3F.txt"
        assert _protocol.quote_path(".") == "%2E" and _protocol.quote_path("..") == "%2E%2E"
        assert _protocol.v1_prefix("ns", "claim") == "/v1/namespaces/ns/sandboxes/claim"
        with pytest.raises(ValueError, match="path: must not contain NUL"):
            _protocol.quote_path("a\0b")
        with pytest.raises(ValueError, match="path: must not be empty"):
            _protocol.quote_path("")

    def test_ws_url_follows_the_scheme(self) -> None:
        assert _protocol.ws_url("http://127.0.0.1:8080") == "ws://127.0.0.1:8080"
        assert _protocol.ws_url("https://gw.example") == "wss://gw.example"

    def test_exec_body_argv_shell_stdin_and_timeout(self) -> None:
        body = _protocol.exec_body(["echo", 1], stdin=b"\x00\xff", env={"A": "1"}, cwd="w", timeout=1.5)  # type: ignore[list-item]
        assert body == {
            "command": ["echo", "1"],
            "env": {"A": "1"},
            "cwd": "w",
            "timeoutMs": 1500,
            "stdin": base64.b64encode(b"\x00\xff").decode(),
            "stdinEncoding": "base64",
            "outputEncoding": "base64",
        }
        assert _protocol.exec_body("ls | wc -l")["shell"] == "ls | wc -l"
        with pytest.raises(ValueError, match="command: must not be empty"):
            _protocol.exec_body("  ")
        with pytest.raises(ValueError, match="command: must not be an empty list"):
            _protocol.exec_body([])
        with pytest.raises(ValueError, match="timeout: must be positive"):
            _protocol.exec_body("true", timeout=0)

    def test_signal_frames_accept_short_names_and_refuse_others(self) -> None:
        assert json.loads(_protocol.signal_frame("term")) == {"type": "signal", "signal": "SIGTERM"}
        with pytest.raises(ValueError, match="signal: must be one of"):
            _protocol.signal_frame("SIGUSR1")

    def test_claim_body_is_the_v1alpha1_shape(self) -> None:
        body = ClaimSpec("python-runtime", warmpool="pool", labels={"team": "a"}, env={"X": "1"}).body("c1")
        assert body["apiVersion"] == "extensions.agents.x-k8s.io/v1alpha1" and body["kind"] == "SandboxClaim"
        assert body["metadata"] == {"name": "c1", "labels": {"team": "a"}}
        assert body["spec"] == {
            "sandboxTemplateRef": {"name": "python-runtime"},
            "warmpool": "pool",
            "env": [{"name": "X", "value": "1"}],
        }
        ttl = ClaimSpec("t", shutdown_after_seconds=60).body("c2")["spec"]["lifecycle"]
        assert ttl["shutdownPolicy"] == "Delete" and ttl["shutdownTime"].endswith("Z")
        name = new_claim_name()
        assert name.startswith("sandbox-claim-") and len(name) == len("sandbox-claim-") + 8


class TestAnswers:
    def test_exec_response_decodes_base64_output(self) -> None:
        r = _protocol.parse_exec_response(
            {
                "exitCode": 0,
                "signal": "",
                "timedOut": False,
                "stdoutTruncated": True,
                "stdout": base64.b64encode(b"\xffok").decode(),
                "stderr": "",
                "encoding": "base64",
                "durationMs": 7,
            }
        )
        assert r.stdout_bytes == b"\xffok" and r.truncated and r.ok and r.duration_ms == 7

    def test_router_errors_map_to_types(self) -> None:
        v1 = json.dumps({"error": {"code": "sandbox_not_ready", "message": "pod not Ready"}}).encode()
        err = _protocol.error_from_response(503, {}, v1)
        assert isinstance(err, errors.SandboxNotReady) and err.retryable and err.status == 503
        legacy = _protocol.error_from_response(
            404, {"x-sandbank-error-code": "not_found"}, json.dumps({"detail": "Sandbox 'x' not found"}).encode()
        )
        assert isinstance(legacy, errors.NotFound) and "Sandbox 'x' not found" in str(legacy)
        proxy = _protocol.error_from_response(401, {}, b"<html>nope</html>")
        assert isinstance(proxy, errors.Unauthenticated)
        deadline = _protocol.error_from_response(504, {}, b"")
        assert isinstance(deadline, errors.DeadlineExceeded) and isinstance(deadline, TimeoutError)
        assert type(_protocol.error_from_response(500, {}, b"")) is errors.RouterError

    def test_ws_close_codes_map_to_types(self) -> None:
        assert isinstance(_protocol.error_from_close(4401, "unauthenticated: bad token"), errors.Unauthenticated)
        assert isinstance(_protocol.error_from_close(1009, "payload_too_large: 17 MiB"), errors.PayloadTooLarge)
        assert isinstance(_protocol.error_from_close(4504, "deadline_exceeded: 180 s"), errors.DeadlineExceeded)

    def test_claim_outcomes(self) -> None:
        def claim(status: str, reason: str, message: str = "") -> dict[str, object]:
            return {
                "status": {"conditions": [{"type": "Ready", "status": status, "reason": reason, "message": message}]}
            }

        assert claim_outcome("c", claim("True", "SandboxReady")) is True
        assert claim_outcome("c", claim("False", "Pending")) is False
        assert claim_outcome("c", {}) is False
        with pytest.raises(errors.TemplateNotFound) as err:
            claim_outcome("c", claim("False", "TemplateNotFound", "no SandboxTemplate tpl"))
        assert err.value.reason == "TemplateNotFound" and "no SandboxTemplate tpl" in str(err.value)
        with pytest.raises(errors.ClaimFailed, match="SandboxFailed"):
            claim_outcome("c", claim("False", "SandboxFailed"))

    @pytest.mark.parametrize(
        "reason",
        [
            "PodFailed",
            "PodSucceeded",
            "SandboxExpired",
            "VolumeClaimTemplatesError",
            "InvalidConfiguration",
            "SandboxMissing",
        ],
    )
    def test_v1beta1_terminal_reasons_fail_fast(self, reason: str) -> None:
        # The controller forwards the Sandbox's Ready verbatim (v1beta1): a failed Pod reaches the
        # claim as PodFailed, which must end the wait at once, not after the ready timeout.
        cond = {"type": "Ready", "status": "False", "reason": reason, "message": "Pod c: Evicted"}
        with pytest.raises(errors.ClaimFailed, match=reason) as err:
            claim_outcome("c", {"status": {"conditions": [cond]}})
        assert err.value.reason == reason and "Evicted" in str(err.value)

    @pytest.mark.parametrize("reason", ["DependenciesNotReady", "SandboxSuspended", "SandboxNotReady"])
    def test_v1beta1_transient_reasons_keep_waiting(self, reason: str) -> None:
        cond = {"type": "Ready", "status": "False", "reason": reason, "message": ""}
        assert claim_outcome("c", {"status": {"conditions": [cond]}}) is False


class TestRetries:
    def test_only_what_never_reached_the_sandbox_is_retried_for_commands(self) -> None:
        not_ready = errors.error_for_code("sandbox_not_ready", "x")
        failed = errors.error_for_code("upstream_failed", "x")
        connect = httpx.ConnectError("refused")
        read = httpx.ReadError("reset")
        assert _http.retry_decision(0, error=None, status_error=not_ready, idempotent=False)
        assert not _http.retry_decision(0, error=None, status_error=failed, idempotent=False)
        assert _http.retry_decision(0, error=connect, status_error=None, idempotent=False)
        assert not _http.retry_decision(0, error=read, status_error=None, idempotent=False)
        assert _http.retry_decision(0, error=read, status_error=None, idempotent=True)
        assert not _http.retry_decision(_http.ATTEMPTS - 1, error=connect, status_error=None, idempotent=True)

    def test_attempts_wait_then_give_up_and_never_replay_a_consumed_body(self) -> None:
        connect = httpx.ConnectError("refused")
        attempts = _http.Attempts(idempotent=False, replayable=True)
        delays = [attempts.after_error(connect) for _ in range(_http.ATTEMPTS)]
        assert delays[:-1] == [_http.backoff(i) for i in range(_http.ATTEMPTS - 1)] and delays[-1] is None
        not_ready = errors.error_for_code("sandbox_not_ready", "x")
        assert _http.Attempts(idempotent=False, replayable=True).after_status(not_ready, "1") == 1.0
        assert _http.Attempts(idempotent=True, replayable=False).after_error(connect) is None

    def test_backoff_grows_is_capped_and_honours_retry_after(self) -> None:
        delays = [_http.backoff(i) for i in range(6)]
        assert delays == sorted(delays) and max(delays) == _http.MAX_BACKOFF_S
        assert _http.backoff(0, "1") == 1.0


class TestFrames:
    def test_output_started_exit_and_error(self) -> None:
        assert decode_frame(b"\x01hi") == Output("stdout", b"hi")
        assert decode_frame(b"\x02err") == Output("stderr", b"err")
        exit_event = decode_frame(json.dumps({"type": "exit", "exitCode": 0}))
        assert getattr(exit_event, "frame", None) == {"type": "exit", "exitCode": 0}
        with pytest.raises(errors.DeadlineExceeded):
            decode_frame(json.dumps({"type": "error", "code": "deadline_exceeded", "message": "too slow"}))
        with pytest.raises(errors.StreamClosed):
            decode_frame(b"\x07?")


class TestPortForward:
    def test_missing_kubectl_says_what_to_do(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("KUBECTL", raising=False)
        monkeypatch.setenv("PATH", "/nonexistent")
        with pytest.raises(errors.PortForwardError, match="install kubectl, or connect without it with api_url="):
            kubectl_path()
        with pytest.raises(errors.PortForwardError, match="needs kubectl"):
            PortForward("default").start()

    def test_a_bad_kubectl_override_is_named(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("KUBECTL", "/nonexistent/kubectl")
        with pytest.raises(errors.PortForwardError, match="KUBECTL=/nonexistent/kubectl"):
            kubectl_path()
