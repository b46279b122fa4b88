/* An experiment, not part of the package: YAML values built in C straight from libyaml's
   events, to measure what PyYAML's binding (a Python object per event, two Marks each) and
   our reader's Python code cost. Mappings, sequences and scalars only: no anchors, aliases,
   merge keys, tags, duplicate-key problems, depth limits or key positions, which the real
   reader has. A plain untagged scalar whose first character may start a non-string (a
   number, a boolean, null...) is passed to `resolve`, once per occurrence; the rest are str.
   See measure.py. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <yaml.h>

static PyObject *build(yaml_parser_t *parser, yaml_event_t *event, PyObject *resolve);

static PyObject *scalar(yaml_event_t *event, PyObject *resolve) {
    const char *text = (const char *)event->data.scalar.value;
    Py_ssize_t length = (Py_ssize_t)event->data.scalar.length;
    PyObject *value = PyUnicode_DecodeUTF8(text, length, "strict");
    if (value == NULL) return NULL;
    if (event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && event->data.scalar.tag == NULL
        && (length == 0 || strchr("-+.0123456789~nNtTfFyYoO", text[0]) != NULL)) {
        PyObject *resolved = PyObject_CallOneArg(resolve, value);
        Py_DECREF(value);
        return resolved;
    }
    return value;
}

/* The next value of a collection; NULL with *end set at the collection's end. */
static PyObject *next_value(yaml_parser_t *parser, PyObject *resolve, int *end) {
    yaml_event_t event;
    if (!yaml_parser_parse(parser, &event)) {
        PyErr_SetString(PyExc_ValueError, "YAML error");
        return NULL;
    }
    PyObject *value = NULL;
    if (event.type == YAML_MAPPING_END_EVENT || event.type == YAML_SEQUENCE_END_EVENT)
        *end = 1;
    else
        value = build(parser, &event, resolve);
    yaml_event_delete(&event);
    return value;
}

static PyObject *build(yaml_parser_t *parser, yaml_event_t *event, PyObject *resolve) {
    if (event->type == YAML_SCALAR_EVENT) return scalar(event, resolve);
    int mapping = event->type == YAML_MAPPING_START_EVENT;
    if (!mapping && event->type != YAML_SEQUENCE_START_EVENT) {
        PyErr_SetString(PyExc_ValueError, "not handled by this experiment");
        return NULL;
    }
    PyObject *collection = mapping ? PyDict_New() : PyList_New(0);
    for (;;) {
        int end = 0;
        PyObject *item = next_value(parser, resolve, &end);
        if (end) return collection;
        if (item == NULL) break;
        int failed;
        if (mapping) {
            PyObject *value = next_value(parser, resolve, &end);
            failed = value == NULL || PyDict_SetItem(collection, item, value) < 0;
            Py_XDECREF(value);
        } else {
            failed = PyList_Append(collection, item) < 0;
        }
        Py_DECREF(item);
        if (failed) break;
    }
    Py_DECREF(collection);
    return NULL;
}

static PyObject *load(PyObject *self, PyObject *args) {
    const char *buffer;
    Py_ssize_t length;
    PyObject *resolve;
    if (!PyArg_ParseTuple(args, "y#O", &buffer, &length, &resolve)) return NULL;
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)buffer, (size_t)length);
    PyObject *documents = PyList_New(0);
    while (documents != NULL) {
        yaml_event_t event;
        if (!yaml_parser_parse(&parser, &event)) {
            PyErr_SetString(PyExc_ValueError, "YAML error");
            Py_CLEAR(documents);
            break;
        }
        yaml_event_type_t type = event.type;
        if (type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT
            || type == YAML_SCALAR_EVENT) {
            PyObject *value = build(&parser, &event, resolve);
            if (value == NULL || PyList_Append(documents, value) < 0) Py_CLEAR(documents);
            Py_XDECREF(value);
        }
        yaml_event_delete(&event);
        if (type == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&parser);
    return documents;
}

static PyMethodDef methods[] = {{"load", load, METH_VARARGS, "load(bytes, resolve)"}, {NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "fastread", NULL, -1, methods};
PyMODINIT_FUNC PyInit_fastread(void) { return PyModule_Create(&module); }
