"""The C runtime's single-row fast path: a tiny CPython extension module calling the model's
compiled ``modelport_predict_margin`` / ``modelport_predict`` directly (no ctypes, no numpy).

One extension serves every model: :func:`row_callables` hands it the two C entry points'
addresses (from the model's already loaded shared library) and the row width, and gets back two
builtin functions (``METH_O``).  Each takes one row -- any C-contiguous buffer of float32 or
float64 values (a numpy array ``[n_features]`` or ``[1, n_features]``, ``array.array``), or a
list/tuple of numbers (``None`` = missing) -- converts it into a stack buffer of the model's
input type (float64 -> float32 rounds to nearest, as numpy's ``astype``), calls the C function
through its pointer and returns a float (one output) or a tuple of floats.  A wrong width or a
non-numeric value raises :class:`~modelport.core.errors.InputDataError` (one line).

Built once per Python ABI and compiler with ``Python.h`` from ``sysconfig.get_paths()["include"]``
into the C runtime's cache (``.../modelport/c/ext-<hash>/``, keyed by this source, the flags, the
compiler and the Python include directory), never inside a bundle.  When ``Python.h`` is absent
(no python3-dev) or the build fails, :func:`row_callables` raises :class:`ExtensionUnavailable`
with the reason, and the runtime falls back to ctypes (``CRuntime.fast_path`` says which).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType

__all__ = ["ExtensionUnavailable", "row_callables", "build_extension", "EXT_SOURCE"]

#: The extension's C source.  ``MP_MAX_WIDTH`` bounds the stack row buffer: wider models fall
#: back to ctypes.
EXT_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MP_MAX_WIDTH 1024
#define MP_MAX_OUT 256
typedef int (*mp_fn)(const void *row, float *out);

typedef struct {
  mp_fn fn;
  Py_ssize_t nf, nout;
  int dbl;            /* input type: 1 = double, 0 = float */
  PyObject *error;    /* InputDataError */
  PyObject *owner;    /* keeps the model's library object alive */
} mp_state;

static void mp_state_free(PyObject *cap) {
  mp_state *s = (mp_state *)PyCapsule_GetPointer(cap, NULL);
  if (s) { Py_XDECREF(s->error); Py_XDECREF(s->owner); PyMem_Free(s); }
}

static int mp_format_code(const char *f) {
  if (f == NULL) return 'B';
  if (*f == '@' || *f == '=' || *f == '<') f++;
  if ((f[0] == 'f' || f[0] == 'd') && f[1] == 0) return f[0];
  return 0;
}

static int mp_store(mp_state *s, void *row, Py_ssize_t j, double v) {
  if (s->dbl) ((double *)row)[j] = v; else ((float *)row)[j] = (float)v;
  return 0;
}

/* 1: filled from a float buffer, 0: not a usable buffer (try the sequence path), -1: error set. */
static int mp_from_buffer(mp_state *s, PyObject *obj, void *row) {
  Py_buffer v;
  int code;
  Py_ssize_t j, n;
  if (!PyObject_CheckBuffer(obj) || PyBytes_Check(obj) || PyByteArray_Check(obj)) return 0;
  if (PyObject_GetBuffer(obj, &v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) { PyErr_Clear(); return 0; }
  code = mp_format_code(v.format);
  if (code == 0 || v.itemsize != (code == 'f' ? 4 : 8)) { PyBuffer_Release(&v); return 0; }
  n = v.len / v.itemsize;
  if (n != s->nf) {
    PyBuffer_Release(&v);
    PyErr_Format(s->error, "predict_row: expected %zd feature values, got %zd", s->nf, n);
    return -1;
  }
  if (code == 'f' && !s->dbl) memcpy(row, v.buf, (size_t)n * 4);
  else if (code == 'd' && s->dbl) memcpy(row, v.buf, (size_t)n * 8);
  else if (code == 'f') for (j = 0; j < n; j++) ((double *)row)[j] = (double)((const float *)v.buf)[j];
  else for (j = 0; j < n; j++) ((float *)row)[j] = (float)((const double *)v.buf)[j];
  PyBuffer_Release(&v);
  return 1;
}

static int mp_from_sequence(mp_state *s, PyObject *obj, void *row) {
  PyObject *seq, **items;
  Py_ssize_t j, n;
  if (PyUnicode_Check(obj) || PyBytes_Check(obj) || PyByteArray_Check(obj) || !PySequence_Check(obj)) {
    PyErr_Format(s->error, "predict_row: expected one row of %zd numbers (a float32/float64 array, list or tuple), got %.80s",
                 s->nf, Py_TYPE(obj)->tp_name);
    return -1;
  }
  seq = PySequence_Fast(obj, "predict_row: expected a sequence");
  if (seq == NULL) return -1;
  n = PySequence_Fast_GET_SIZE(seq);
  if (n != s->nf) {
    Py_DECREF(seq);
    PyErr_Format(s->error, "predict_row: expected %zd feature values, got %zd", s->nf, n);
    return -1;
  }
  items = PySequence_Fast_ITEMS(seq);
  for (j = 0; j < n; j++) {
    PyObject *it = items[j];
    double d;
    int bad = 0;
    if (PyFloat_CheckExact(it)) d = PyFloat_AS_DOUBLE(it);
    else if (it == Py_None) d = Py_NAN;
    else if (PyUnicode_Check(it) || PyBytes_Check(it)) { d = 0; bad = 1; }
    else { d = PyFloat_AsDouble(it); bad = d == -1.0 && PyErr_Occurred(); }
    if (bad) {
      PyErr_Clear();
      PyErr_Format(s->error, "predict_row: feature %zd is not a number (%.80s)", j, Py_TYPE(it)->tp_name);
      Py_DECREF(seq);
      return -1;
    }
    mp_store(s, row, j, d);
  }
  Py_DECREF(seq);
  return 0;
}

static PyObject *mp_call(PyObject *cap, PyObject *obj) {
  mp_state *s = (mp_state *)PyCapsule_GetPointer(cap, NULL);
  double row[MP_MAX_WIDTH];   /* room for MP_MAX_WIDTH doubles or floats */
  float out[MP_MAX_OUT];
  PyObject *res;
  Py_ssize_t k;
  int r;
  if (s == NULL) return NULL;
  r = mp_from_buffer(s, obj, row);
  if (r < 0) return NULL;
  if (r == 0 && mp_from_sequence(s, obj, row) < 0) return NULL;
  s->fn(row, out);
  if (s->nout == 1) return PyFloat_FromDouble((double)out[0]);
  res = PyTuple_New(s->nout);
  if (res == NULL) return NULL;
  for (k = 0; k < s->nout; k++) {
    PyObject *f = PyFloat_FromDouble((double)out[k]);
    if (f == NULL) { Py_DECREF(res); return NULL; }
    PyTuple_SET_ITEM(res, k, f);
  }
  return res;
}

static PyMethodDef mp_call_def = {"predict_row", (PyCFunction)mp_call, METH_O,
  "predict_row(row) -> float or tuple: one row through the compiled model"};

/* bind(fn_address, n_features, n_out, is_double, error_class, owner) -> builtin function */
static PyObject *mp_bind(PyObject *self, PyObject *args) {
  unsigned long long addr;
  Py_ssize_t nf, nout;
  int dbl;
  PyObject *err, *owner, *cap, *fn;
  mp_state *s;
  (void)self;
  if (!PyArg_ParseTuple(args, "KnnpOO", &addr, &nf, &nout, &dbl, &err, &owner)) return NULL;
  if (addr == 0 || nf < 0 || nf > MP_MAX_WIDTH || nout < 1 || nout > MP_MAX_OUT) {
    PyErr_SetString(PyExc_ValueError, "bind: address, width or output count out of range");
    return NULL;
  }
  s = (mp_state *)PyMem_Malloc(sizeof(mp_state));
  if (s == NULL) return PyErr_NoMemory();
  s->fn = (mp_fn)(uintptr_t)addr;
  s->nf = nf; s->nout = nout; s->dbl = dbl;
  Py_INCREF(err); s->error = err;
  Py_INCREF(owner); s->owner = owner;
  cap = PyCapsule_New(s, NULL, mp_state_free);
  if (cap == NULL) { Py_DECREF(err); Py_DECREF(owner); PyMem_Free(s); return NULL; }
  fn = PyCFunction_New(&mp_call_def, cap);
  Py_DECREF(cap);
  return fn;
}

static PyMethodDef mp_methods[] = {
  {"bind", mp_bind, METH_VARARGS, "bind(fn_address, n_features, n_out, is_double, error_class, owner)"},
  {NULL, NULL, 0, NULL}
};

static struct PyModuleDef mp_module = {PyModuleDef_HEAD_INIT, MP_MODULE_NAME_STR, NULL, -1, mp_methods,
                                       NULL, NULL, NULL, NULL};

PyMODINIT_FUNC MP_INIT_NAME(void) { return PyModule_Create(&mp_module); }
"""

#: Compiler flags of the extension (no float arithmetic beyond conversions; C11 because
#: Python 3.12+ headers need it).
EXT_FLAGS = ("-std=c11", "-O2", "-fno-strict-aliasing", "-ffp-contract=off", "-fno-fast-math")


class ExtensionUnavailable(Exception):
    """The extension cannot be built here; ``str()`` is the one-line reason."""


_LOADED: dict[Path, ModuleType] = {}


def build_extension(cache: Path, cc: str) -> tuple[str, Path]:
    """Compile the extension into ``cache`` (once per source, flags, compiler and Python
    include directory); returns ``(module_name, path)``."""
    include = sysconfig.get_paths().get("include") or ""
    if not include or not (Path(include) / "Python.h").is_file():
        raise ExtensionUnavailable(f"Python.h not found in {include or 'sysconfig include path'} "
                                   "(install the Python development headers, e.g. python3-dev)")
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    st = os.stat(cc)
    h = hashlib.sha256(f"{cc}\0{st.st_size}\0{st.st_mtime_ns}\0{' '.join(EXT_FLAGS)}\0{include}\0{suffix}\0"
                       f"{sys.version}\0{EXT_SOURCE}".encode()).hexdigest()[:24]
    name = f"_modelport_crow_{h}"
    target = cache / f"ext-{h}" / f"{name}{suffix}"
    if target.is_file():
        return name, target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / "ext.c"
        src.write_text(EXT_SOURCE, encoding="ascii")
        out = Path(tmp) / target.name
        cmd = [cc, *EXT_FLAGS, "-fPIC", "-shared", f"-I{include}", f"-DMP_MODULE_NAME_STR=\"{name}\"",
               f"-DMP_INIT_NAME=PyInit_{name}", "-o", str(out), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv, no shell
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["no output"])[0]
            raise ExtensionUnavailable(f"compiling the row extension failed ({Path(cc).name} exit "
                                       f"{proc.returncode}): {first}")
        os.replace(out, target)
    return name, target


def _load(name: str, path: Path) -> ModuleType:
    mod = _LOADED.get(path)
    if mod is None:
        loader = importlib.machinery.ExtensionFileLoader(name, str(path))
        spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
        if spec is None:
            raise ExtensionUnavailable(f"cannot load the row extension {path.name}")
        try:
            mod = importlib.util.module_from_spec(spec)
            loader.exec_module(mod)
        except ImportError as exc:
            raise ExtensionUnavailable(f"loading the row extension failed: {str(exc).splitlines()[0]}") from None
        _LOADED[path] = mod
    return mod


def row_callables(*, cache: Path, cc: str, addresses: dict[str, int], n_features: int,
                  n_outputs: dict[str, int], double: bool, error: type, owner: object) -> dict:
    """``{"margin": f, "prediction": g}``: builtin one-row functions bound to the C entry points
    at ``addresses`` (see the module docstring).  Raises :class:`ExtensionUnavailable`."""
    if n_features > 1024 or max(n_outputs.values()) > 256:
        raise ExtensionUnavailable(f"{n_features} features / {max(n_outputs.values())} outputs exceed the "
                                   "row extension's stack buffers (1024 / 256)")
    mod = _load(*build_extension(cache, cc))
    return {k: mod.bind(addresses[k], n_features, n_outputs[k], double, error, owner) for k in addresses}
