"""codebind-graph as a user runs it: Ctrl-C at any moment of its start-up ends it quietly, and its
query client is answered in a burst of other clients.

- the real ``codebind-graph`` console script (the venv's start-up hook, rclpy, the model, the
  nodes all loading), SIGINT 1, 2 and 4 s after it started: exit status 0, no traceback;
- the guard of every console script (codebind_ros.entry_points) on modules whose import is
  interrupted the way rclpy's C extension is: the KeyboardInterrupt wrapped in an ImportError
  (pybind11 raise_from, seen on Jazzy), or an error raised after it without its chain;
- an interrupt during an import ends the process past the native exit-time handlers (open3d's
  leak check exits 1 after its import was cut short: a native ``atexit(abort)`` stands in for it),
  after Python's own shutdown (threads joined, atexit callbacks); an interrupt anywhere else
  keeps the normal exit, native handlers included;
- 100 concurrent ``graph_runner.query`` calls (one client each) against one memory node: all
  answered (with the default 10-deep history, the middleware's copies of the other clients'
  responses crowd out a client's own)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from rclpy.node import Node
from rclpy.parameter import Parameter

from codebind_core.memory import Observation
from codebind_ros.nodes.memory_node import MemoryNode
from codebind_ros.tools.graph_runner import query

ROOT = Path(__file__).resolve().parents[2]


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # what a terminal gives a foreground command


@pytest.mark.parametrize("delay", [1.0, 2.0, 4.0])
def test_codebind_graph_interrupted_during_start_up_exits_quietly(tmp_path, tiny_model, ros_context, delay):
    import codebind_core as cb

    cb.save(tiny_model, tmp_path / "ckpt")
    exe = Path(sys.executable).parent / "codebind-graph"
    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_context.get_domain_id()))
    proc = subprocess.Popen([str(exe), "--model-path", str(tmp_path / "ckpt"), "--memory-db", str(tmp_path / "m.db")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0 and "Traceback" not in err and "Error" not in err, \
        f"SIGINT {delay} s after start: status {proc.returncode}\n{err[-3000:]}"


_INTERRUPTED = {
    # pybind11 turns a KeyboardInterrupt inside a C extension's init into ImportError(...) from it
    "wrapped": "try:\n    os.kill(os.getpid(), signal.SIGINT)\n    time.sleep(30)\n"
               "except KeyboardInterrupt as e:\n"
               "    raise ImportError(\"initialization failed\\nThe C extension 'x.so' isn't present\") from e\n",
    # an error after the interrupt, its chain lost
    "unchained": "try:\n    os.kill(os.getpid(), signal.SIGINT)\n    time.sleep(30)\nexcept KeyboardInterrupt:\n"
                 "    pass\nraise RuntimeError('context is not valid')\n",
}


@pytest.mark.parametrize("how", sorted(_INTERRUPTED))
def test_an_error_an_interrupt_caused_while_loading_ends_quietly(tmp_path, how):
    (tmp_path / "interrupted_module.py").write_text("import os, signal, time\n" + _INTERRUPTED[how] +
                                                    "def main():\n    return 3\n")
    launcher = "import sys\nfrom codebind_ros.entry_points import run\nsys.exit(run('interrupted_module:main'))\n"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    done = subprocess.run([sys.executable, "-c", launcher], env=env, capture_output=True, text=True, timeout=120,
                          preexec_fn=_default_sigint, cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]


_NATIVE_EXIT_FAILS = (
    "import atexit, ctypes, os, signal, threading, time, pathlib\n"
    "libc = ctypes.CDLL(None)\n"
    "# a native exit-time handler that fails the exit, as open3d's leak check does\n"
    "libc.__cxa_atexit(ctypes.cast(libc.abort, ctypes.c_void_p), None, None)\n"
    "out = pathlib.Path(os.environ['OUT'])\n"
    "atexit.register(lambda: (out / 'atexit').write_text('ran'))\n"
    "threading.Thread(target=lambda: (time.sleep(1.0), (out / 'thread').write_text('done'))).start()\n"
    "import concurrent.futures\n"
    "pool = concurrent.futures.ThreadPoolExecutor(1)  # an idle worker: it ends only when told to\n"
    "pool.submit(lambda: None).result()\n")
_INTERRUPT = "os.kill(os.getpid(), signal.SIGINT)\ntime.sleep(30)\n"


@pytest.mark.parametrize("where", ["import", "main"])
def test_an_interrupt_during_an_import_skips_native_exit_handlers_only(tmp_path, where):
    body = _NATIVE_EXIT_FAILS + (_INTERRUPT if where == "import" else "")
    main = "def main():\n" + "".join("    " + line + "\n" for line in _INTERRUPT.splitlines()) + "    return 3\n"
    (tmp_path / "native_module.py").write_text(body + main)
    launcher = "import sys\nfrom codebind_ros.entry_points import run\nsys.exit(run('native_module:main'))\n"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]), OUT=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", launcher], env=env, capture_output=True, text=True, timeout=120,
                          preexec_fn=_default_sigint, cwd=tmp_path)
    # Python's shutdown steps ran either way: the thread finished, the atexit callback wrote
    assert (tmp_path / "thread").read_text() == "done" and (tmp_path / "atexit").read_text() == "ran"
    if where == "import":  # quiet, status 0: the native handler did not run
        assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
    else:  # the normal exit, native handlers included (here: the abort)
        assert done.returncode == -signal.SIGABRT, (done.returncode, done.stderr[-2000:])


_TERMINATED = ("import os, signal, time\n"
               "os.kill(os.getpid(), signal.SIGTERM)  # while the module loads, as launch may send it\n"
               "time.sleep(30)\n"
               "def main():\n    return 3\n")
_TERMINATED_TWICE = ("import os, signal, time\n"
                     "def main():\n"
                     "    try:\n"
                     "        os.kill(os.getpid(), signal.SIGINT)\n        time.sleep(30)\n"
                     "    except KeyboardInterrupt:  # the clean-up after Ctrl-C; launch's SIGTERM comes meanwhile\n"
                     "        os.kill(os.getpid(), signal.SIGTERM)\n        time.sleep(0.5)\n"
                     "        print('clean-up finished', flush=True)\n"
                     "    return 0\n")


@pytest.mark.parametrize("module", ["_TERMINATED", "_TERMINATED_TWICE"])
def test_sigterm_while_loading_exits_quietly_and_after_sigint_lets_the_clean_up_finish(tmp_path, module):
    (tmp_path / "terminated_module.py").write_text(globals()[module])
    launcher = "import sys\nfrom codebind_ros.entry_points import run\nsys.exit(run('terminated_module:main'))\n"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    done = subprocess.run([sys.executable, "-c", launcher], env=env, capture_output=True, text=True, timeout=120,
                          preexec_fn=_default_sigint, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", (done.returncode, done.stderr[-2000:])
    if module == "_TERMINATED_TWICE":
        assert done.stdout == "clean-up finished\n"


def test_an_error_without_an_interrupt_still_fails_loudly(tmp_path):
    (tmp_path / "broken_module.py").write_text("raise ImportError('a real missing library')\n")
    launcher = "import sys\nfrom codebind_ros.entry_points import run\nsys.exit(run('broken_module:main'))\n"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    done = subprocess.run([sys.executable, "-c", launcher], env=env, capture_output=True, text=True, timeout=120,
                          preexec_fn=_default_sigint, cwd=tmp_path)
    assert done.returncode == 1 and "a real missing library" in done.stderr


def test_hundred_concurrent_graph_queries_are_all_answered(spin, ros_context, tiny_model, topic, tmp_path):
    memory = spin.add(MemoryNode(model=tiny_model, node_name="memory", namespace=topic, context=ros_context,
                                 parameter_overrides=[Parameter("db_path", value=str(tmp_path / "m.db")),
                                                      Parameter("objects", value=False)]))
    with torch.no_grad():
        emb = tiny_model.encode_text(["a red sphere"], codebook_set="depth")
    memory.memory.add([Observation("depth", "depth", emb.codes[0].numpy().astype(np.uint16), 10 ** 9, "map")])
    asker = spin.add(Node("graph_query", namespace=topic, context=ros_context))
    answers, errors = [], []

    def ask():
        try:
            answers.append(query(asker, "a red sphere", top_k=1, timeout=120.0))
        except Exception as exc:  # noqa: BLE001 - counted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=ask) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=200.0)
    assert errors == [] and len(answers) == 100, (len(answers), errors[:3])
    assert all(a.success and len(a.results) == 1 for a in answers)
