"""``tokenward demo``: the service, the sandbox provider and an example host page on loopback,
set up through the partner API and stopped cleanly by Ctrl-C (docs/demo.md).

What runs, each on 127.0.0.1 (three origins):

* tokenward itself on its embedded default (SQLite and a generated key in a temporary folder,
  or ``--data-dir``), with the host page's origin as its one allowed target origin;
* the sandbox provider: the provider double with its login form;
* the example host page and its backend, which uses the Python SDK with an API client made for
  the demo.

One URL is printed on stdout: the host page's.
"""

from __future__ import annotations

import dataclasses
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from tokenward.client import Client
from tokenward.demo.host_app import HostConfig, build_host_app
from tokenward.demo.sandbox import sandbox_provider
from tokenward.demo.seed import seed
from tokenward.demo.threaded import ThreadedServer
from tokenward.runtime import Runtime, open_runtime
from tokenward.services import api_clients
from tokenward.settings import Settings, load_settings
from tokenward.web.app import create_app
from tokenward.web.sdk import sdk_asset

__all__ = ["DemoOptions", "run_demo"]


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    """The demo's ports (0: any free port) and data folder (None: a temporary one, removed at
    the end)."""

    port: int = 8000
    host_port: int = 8001
    data_dir: Path | None = None


def demo_settings(data_dir: Path, service_url: str, host_origin: str) -> Settings:
    """The embedded default in ``data_dir``; every setting that could point elsewhere is given
    explicitly, so that ``TOKENWARD_*`` variables of the shell do not leak into the demo."""
    return load_settings(
        database_url=None,
        encryption_keys=None,
        key_file=None,
        data_dir=data_dir,
        service_url=service_url,
        allowed_target_origins=[host_origin],
        catalog_dirs=[],
        trusted_proxies=[],
        allow_insecure_http=True,  # the sandbox provider speaks http on loopback
        log_level="WARNING",
    )


@contextmanager
def _data_folder(given: Path | None) -> Iterator[Path]:
    if given is not None:
        yield given
        return
    folder = Path(tempfile.mkdtemp(prefix="tokenward-demo-"))
    try:
        yield folder / "data"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _api_client(runtime: Runtime) -> tuple[str, str]:
    created, secret = api_clients.create_client(runtime.ctx, "tokenward demo")
    return created.client_id, secret


def _wait_for_stop() -> None:
    """Block until Ctrl-C (SIGINT) or SIGTERM."""
    stop = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    while not stop.wait(0.5):
        pass


def _serve(stack: ExitStack, server: ThreadedServer, app: Any) -> None:
    """Serve ``app``; stopped when ``stack`` unwinds, before what was entered earlier."""
    server.start(app)
    stack.callback(server.stop)


def run_demo(options: DemoOptions, announce: Callable[[str], None]) -> None:
    """Start everything, ``announce`` the host page's URL, serve until SIGINT or SIGTERM, then
    stop everything in reverse order: host page, service, sandbox provider, database, folder."""
    with ExitStack() as stack:
        folder = stack.enter_context(_data_folder(options.data_dir))
        # both ports are bound first: the service's settings name both origins
        service = ThreadedServer("tokenward service", options.port)
        stack.callback(service.stop)
        host = ThreadedServer("example host page", options.host_port)
        stack.callback(host.stop)
        settings = demo_settings(folder, service.url, host.url)
        runtime = open_runtime(settings, create_keys=True, ephemeral=options.data_dir is None)
        stack.callback(runtime.close)
        provider = stack.enter_context(sandbox_provider(settings.service_url))
        _serve(stack, service, create_app(settings, runtime=runtime, housekeeping=True))
        client_id, secret = _api_client(runtime)
        with Client(settings.service_url, client_id, secret) as tw:
            setup = seed(tw, provider)
        asset = sdk_asset()
        config = HostConfig(
            service_url=settings.service_url,
            origin=host.url,
            client_id=client_id,
            client_secret=secret,
            setup=setup,
            sdk_url=f"{settings.service_url}/sdk/tokenward.js?v={asset.digest}",
            sdk_integrity=asset.integrity,
        )
        _serve(stack, host, build_host_app(config))
        announce(f"{host.url}/")
        _wait_for_stop()
