/* Placeholder module, replaced by the native implementation. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *available(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    Py_RETURN_FALSE;
}

static PyMethodDef methods[] = {
    {"available", available, METH_NOARGS, "True when this CPU runs the native code."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sm3x", NULL, -1, methods};

PyMODINIT_FUNC PyInit__sm3x(void) { return PyModule_Create(&module); }
