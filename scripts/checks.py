"""The pass/fail tally the end-to-end scripts print (openai_test, zoo_run_test, nginx_test)."""


class Checks:
    def __init__(self, script):
        self.script = script
        self.passed = 0
        self.failed = 0

    def __call__(self, name, cond, detail=""):
        """Records one check, printing `ok` or `FAIL` with the detail."""
        if cond:
            self.passed += 1
            print(f"ok    {name}")
        else:
            self.failed += 1
            print(f"FAIL  {name} {detail!r}")

    def summary(self):
        print(f"{self.script}: {self.passed} passed, {self.failed} failed")
