"""pyserve.py SCRIPT: keeps a test helper script up for a whole e2e run.

Loads SCRIPT (which defines main(cmd, args) -> status) and runs one
command per line of stdin, the command and its arguments separated by US
(0x1f). After a command's output comes a line RS "rc" N (RS is 0x1e)
with its status; a command that raises gets status 1 and its traceback
on stderr, as a one-shot run of the script would. A Python start costs
0.1 s, more than most checks it would run: world.sh's world_py_start and
world_py use this instead of starting Python per check.
"""
import importlib.util
import sys
import traceback


def load(path):
    spec = importlib.util.spec_from_file_location("served", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serve(module):
    for line in sys.stdin:
        words = line.rstrip("\n").split("\x1f")
        try:
            rc = module.main(words[0], words[1:])
        except SystemExit as e:  # sys.exit("message") prints it, as on a real exit
            if isinstance(e.code, str):
                sys.stderr.write(e.code + "\n")
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except Exception:
            traceback.print_exc()
            rc = 1
        sys.stdout.write("\x1erc %d\n" % (rc or 0))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve(load(sys.argv[1])))
