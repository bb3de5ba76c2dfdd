#!/usr/bin/env python3
"""Runs examples/nginx/zoo.conf on loopback in front of two real zoods and checks that
gRPC (grpcio) and the OpenAI API (the `openai` package, streaming included) pass
through it and that both zoods serve requests. Needs nginx (scripts/install-deps
installs Debian's nginx-light). Run by scripts/test after the build; exits 1 on failure.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from openai_test import free_port, metric, scrape  # noqa: E402
from checks import Checks  # noqa: E402
from python_client_test import build_dir, generate_stubs  # noqa: E402

import openai  # noqa: E402

MODEL = "mamba-shakespeare"
check = Checks("nginx_test")


def wait_for(path_or_port, proc, log):
    deadline = time.time() + 60
    while time.time() < deadline:
        if isinstance(path_or_port, int):
            try:
                socket.create_connection(("127.0.0.1", path_or_port), timeout=1).close()
                return
            except OSError:
                pass
        elif os.path.exists(path_or_port):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"nginx_test: {path_or_port} never came up:\n{open(log).read()[-3000:]}")


def main():
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        raise SystemExit("nginx_test: nginx is not installed (scripts/install-deps installs nginx-light)")
    run = tempfile.mkdtemp(prefix="zoo-nginx-", dir="/tmp")
    os.chmod(run, 0o700)
    generate_stubs(os.path.join(run, "stubs"))
    import grpc
    from zoo.v1 import zoo_pb2, zoo_pb2_grpc

    bin_dir = build_dir()
    models, plugins = os.path.join(run, "models"), os.path.join(run, "plugins")
    os.makedirs(models)
    os.makedirs(plugins, mode=0o700)
    os.symlink(os.path.join(ROOT, "models", MODEL), os.path.join(models, MODEL))
    for lib in ["libZooStateSpace.so", "libZooAutoregressive.so"]:
        shutil.copy(os.path.join(bin_dir, lib), plugins)
    processes = []
    try:
        for name in ["a", "b"]:
            os.makedirs(os.path.join(run, name), mode=0o700)
            log = os.path.join(run, f"{name}.log")
            zood = subprocess.Popen(
                [os.path.join(bin_dir, "zood"), "--socket", os.path.join(run, name, "zood.sock"),
                 "--http", "unix:" + os.path.join(run, name, "http.sock"), "--models", models, "--plugins", plugins,
                 "--blas-threads", "1"], stdout=open(log, "w"), stderr=subprocess.STDOUT)
            processes.append(zood)
            wait_for(os.path.join(run, name, "http.sock"), zood, log)

        grpc_port, http_port = free_port(), free_port()
        config = open(os.path.join(ROOT, "examples", "nginx", "zoo.conf")).read()
        import getpass
        config = config.replace("@USER@", getpass.getuser()).replace("@RUN@", run).replace("@GRPC_PORT@", str(grpc_port)).replace("@HTTP_PORT@", str(http_port))
        with open(os.path.join(run, "nginx.conf"), "w") as f:
            f.write(config)
        nginx_log = os.path.join(run, "nginx.log")
        proxy = subprocess.Popen([nginx, "-p", run, "-c", os.path.join(run, "nginx.conf"), "-g", "daemon off;"],
                                 stdout=open(nginx_log, "w"), stderr=subprocess.STDOUT)
        processes.append(proxy)
        wait_for(http_port, proxy, nginx_log)

        client = openai.OpenAI(base_url=f"http://127.0.0.1:{http_port}/v1", api_key="unused", max_retries=0)
        texts = [client.completions.create(model=MODEL, prompt="ROMEO:", max_tokens=8, temperature=0).choices[0].text
                 for _ in range(6)]
        check("completions through nginx agree", len(set(texts)) == 1 and len(texts[0]) > 0, texts)
        chunks = [c.choices[0].text for c in client.completions.create(
            model=MODEL, prompt="ROMEO:", max_tokens=8, temperature=0, stream=True)]
        check("a stream through nginx arrives in chunks", len(chunks) > 2 and "".join(chunks) == texts[0], chunks)

        zoo = zoo_pb2_grpc.ZooStub(grpc.insecure_channel(f"127.0.0.1:{grpc_port}"))
        check("gRPC ListModels through nginx", MODEL in [m.name for m in zoo.ListModels(zoo_pb2.ListModelsRequest()).models])
        for _ in range(6):
            streamed = "".join(m.text for m in zoo.Generate(zoo_pb2.GenerateRequest(
                model=MODEL, prompt="ROMEO:", options=zoo_pb2.GenerateOptions(max_tokens=8, temperature=0))))
        check("gRPC Generate streams through nginx", streamed == texts[0], streamed)

        served = {}
        for name in ["a", "b"]:
            direct = zoo_pb2_grpc.ZooStub(grpc.insecure_channel("unix://" + os.path.join(run, name, "zood.sock")))
            series = scrape(direct.GetMetrics(zoo_pb2.GetMetricsRequest()).text)
            served[name] = metric(series, "zoo_requests_total", rpc="Generate", model=MODEL, decoder="ar", outcome="ok")
        check("both zoods served requests", all(n > 0 for n in served.values()) and sum(served.values()) == 13, served)
    finally:
        for p in reversed(processes):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()

    check.summary()
    if check.failed:
        for name in ["nginx.log", "a.log", "b.log"]:
            print(f"--- {name}\n" + open(os.path.join(run, name)).read()[-2000:])
        sys.exit(1)
    shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    main()
