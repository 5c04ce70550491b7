# Two commands on a fresh machine with Python 3.11+:
#   make run    install what is missing into .venv, then open dcgui on the embedded demo collection
#   make test   install what is missing into .venv, then run ruff, mypy, the import contract and pytest
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Empty find-links: this machine's pip offers a CPU-only torch wheel that breaks `import torchvision`;
# the regular PyPI torch runs on CPU and GPU alike. The constraints file pins every version.
PIP    := PIP_FIND_LINKS= PIP_DISABLE_PIP_VERSION_CHECK=1 $(PY) -m pip
STAMP  := $(VENV)/.dcgui-installed

.PHONY: run test test-slow gpu-check install lint package package-test clean-venv screenshots

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c requirements/constraints.txt -e ".[dev]"
	$(PY) -c "import torch, torchvision, faiss, PySide6, pyqtgraph, sqlite_utils; print('dcgui environment ready: torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $(STAMP)

install: $(STAMP)

# First the system libraries Qt's X11 plugin loads: one apt-get line names every missing one.
run: $(STAMP)
	$(PY) scripts/check_qt_libs.py
	$(PY) main.py --demo

lint: $(STAMP)
	$(PY) -m ruff check dcgui tests benchmarks scripts main.py
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

test: lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

# The tests marked slow (wall-clock bounds, long runs), left out of `make test`
test-slow: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m slow

# On a machine with an NVIDIA GPU (never in CI): CUDA tests, GPU benchmarks, a demo run;
# prints a markdown section for benchmarks/results.md (scripts/gpu_check.py --help)
gpu-check: $(STAMP)
	$(PY) scripts/gpu_check.py

# The one-folder application dist/dcgui/ with PyInstaller (the `package` extra), then its check.
package: $(STAMP)
	$(PIP) install -q -c requirements/constraints.txt "pyinstaller>=6.11"
	nice -n 10 $(PY) packaging/build_bundle.py

# Not in CI (minutes, several GB): build, then run the bundle's window on the demo under Xvfb
# until its first epoch, and every sub-command of the bundled command line on a small folder.
package-test: package
	$(PY) packaging/package_test.py

clean-venv:
	rm -rf $(VENV)

# Screenshots of the main windows for the README (needs Debian's xvfb: apt-get install xvfb)
screenshots: $(STAMP)
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) scripts/screenshots.py
