/*
 * A publisher's packet, fanned out to its subscribers: one call per received packet.
 *
 * Each subscriber's copy is the publisher's payload under a header of the subscriber's own: its
 * SSRC, continuous sequence numbers and timestamps (the rewriter below), its payload type and
 * header extensions. In Python this was a quarter of the event loop's time at 1 + 50 (a dozen
 * attribute reads, a rewrite, a pack and a queue call for each of ~23,000 copies a second).
 * Here each copy is written straight into the packet sender's queue.
 *
 * An Outlet is one m-line of a subscriber connection (media/sender_slot.py): the rewriter's
 * state, the header template, what its sender reports count, and the connection's Link. A Link
 * is the connection's current Destination (None while not connected), which
 * media/aiortc/dtls_send.py keeps up to date; the outlets of one connection share it.
 */

#include "_packet_sender.h"

#include <string.h>
#include <structmember.h>

#define SEQUENCE_HALF 0x8000
/* Remembers which source packet each recent outgoing sequence number carried (for NACKs). */
#define SENT_WINDOW 1024

typedef struct {
    PyObject_HEAD
    Destination *destination;
} Link;

typedef struct {
    PyObject_HEAD
    Link *link;
    uint32_t ssrc;
    int configured;
    uint8_t payload_type;
    uint32_t clock_rate;
    int awaiting_keyframe;
    /* The rewriter. */
    uint16_t next_sequence;
    uint16_t sequence_offset;
    uint32_t next_timestamp;
    uint32_t timestamp_offset;
    uint32_t source_ssrc;
    uint32_t last_timestamp;
    int has_source;
    int has_last_timestamp;
    int rebase_sequence;  /* packets were skipped: the next one forwarded re-bases */
    double last_sent_at;
    int32_t sent_source_sequence[SENT_WINDOW];
    /* The header extension block: `prefix` + a per-packet value of `variable_size` bytes +
     * `padding` zeros, or `plain` (the fixed elements alone) when the packet brings none. */
    unsigned char prefix[MAX_EXTENSION];
    int prefix_length;
    int variable_size;
    int padding;
    unsigned char plain[MAX_EXTENSION];
    int plain_length;
    /* What its sender reports say. */
    unsigned long long packets_sent;
    unsigned long long octets_sent;
    unsigned long long ntp_time;
    uint32_t rtp_timestamp;
} Outlet;

/* Link */

/* A getter and setter of an optional reference of one type (None when absent). */
static PyObject *
get_optional(PyObject *reference)
{
    PyObject *value = reference ? reference : Py_None;
    Py_INCREF(value);
    return value;
}

static int
set_optional(PyObject **reference, PyObject *value, PyTypeObject *type, const char *refused)
{
    if (value == NULL || value == Py_None) {
        Py_CLEAR(*reference);
        return 0;
    }
    if (!PyObject_TypeCheck(value, type)) {
        PyErr_SetString(PyExc_TypeError, refused);
        return -1;
    }
    Py_INCREF(value);
    Py_XSETREF(*reference, value);
    return 0;
}

static PyObject *
Link_get_destination(Link *self, void *Py_UNUSED(closure))
{
    return get_optional((PyObject *)self->destination);
}

static int
Link_set_destination(Link *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value != NULL && value != Py_None && PyObject_TypeCheck(value, &DestinationType)
        && ((Destination *)value)->session_owner == NULL) {
        PyErr_SetString(PyExc_TypeError, "a Link's destination is a Destination or None");
        return -1;
    }
    return set_optional((PyObject **)&self->destination, value, &DestinationType,
                        "a Link's destination is a Destination or None");
}

static void
Link_dealloc(Link *self)
{
    Py_XDECREF(self->destination);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyGetSetDef Link_getset[] = {
    {"destination", (getter)Link_get_destination, (setter)Link_set_destination,
     "where the connection's packets go now; None while it is not connected", NULL},
    {NULL},
};

PyTypeObject LinkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._packet_sender.Link",
    .tp_basicsize = sizeof(Link),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Link(): a connection's current Destination, shared by its outlets.",
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)Link_dealloc,
    .tp_getset = Link_getset,
};

/* The rewriter */

static void
rebase_timestamp(Outlet *self, uint32_t source_ssrc, uint32_t timestamp, double now)
{
    uint32_t target;
    if (!self->has_last_timestamp) {
        target = self->next_timestamp;
    } else {
        /* Continue from the last timestamp sent, advanced by the wall time since. */
        double elapsed = now - self->last_sent_at;
        if (elapsed < 0.001)
            elapsed = 0.001;
        target = self->last_timestamp + (uint32_t)(uint64_t)(elapsed * self->clock_rate);
    }
    self->timestamp_offset = target - timestamp;
    self->source_ssrc = source_ssrc;
    self->has_source = 1;
}

/* The outgoing sequence number and timestamp of a forwarded source packet. A subscriber sees
 * one continuous stream, whatever the publisher does: a new publisher SSRC (a restarted track)
 * or packets not forwarded (muted, waiting for a keyframe) never show up as a gap it would NACK
 * or a timestamp jump it would stall on. */
static void
rewrite(Outlet *self, uint32_t source_ssrc, uint16_t sequence, uint32_t timestamp, double now,
        uint16_t *out_sequence, uint32_t *out_timestamp)
{
    if (!self->has_source || source_ssrc != self->source_ssrc) {
        rebase_timestamp(self, source_ssrc, timestamp, now);
        self->rebase_sequence = 1;
    }
    if (self->rebase_sequence) {
        self->sequence_offset = (uint16_t)(self->next_sequence - sequence);
        self->rebase_sequence = 0;
    }
    uint16_t s = (uint16_t)(sequence + self->sequence_offset);
    uint32_t t = timestamp + self->timestamp_offset;
    /* Only move forward: a late (reordered) packet keeps its place in the sequence. */
    if ((uint16_t)(s - self->next_sequence) < SEQUENCE_HALF) {
        self->next_sequence = (uint16_t)(s + 1);
        self->last_timestamp = t;
        self->has_last_timestamp = 1;
        self->last_sent_at = now;
    }
    self->sent_source_sequence[s % SENT_WINDOW] = sequence;
    *out_sequence = s;
    *out_timestamp = t;
}

/* Outlet */

static int
Outlet_init(Outlet *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"ssrc", "first_sequence", "first_timestamp", NULL};
    unsigned long ssrc, first_sequence, first_timestamp;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "kkk", keywords, &ssrc, &first_sequence,
                                     &first_timestamp))
        return -1;
    if (ssrc > UINT32_MAX || first_timestamp > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "an SSRC and a timestamp are 32 bits");
        return -1;
    }
    self->ssrc = (uint32_t)ssrc;
    self->next_sequence = (uint16_t)first_sequence;
    self->next_timestamp = (uint32_t)first_timestamp;
    self->rebase_sequence = 1;
    for (int i = 0; i < SENT_WINDOW; i++)
        self->sent_source_sequence[i] = -1;
    return 0;
}

static void
Outlet_dealloc(Outlet *self)
{
    Py_XDECREF(self->link);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Outlet_configure(Outlet *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"payload_type", "clock_rate", "prefix", "variable_size", "padding",
                               "plain", NULL};
    int payload_type, variable_size, padding;
    unsigned long clock_rate;
    Py_buffer prefix, plain;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iky*iiy*", keywords, &payload_type,
                                     &clock_rate, &prefix, &variable_size, &padding, &plain))
        return NULL;
    const char *error = NULL;
    if (payload_type < 0 || payload_type > 127)
        error = "payload_type must be in [0, 127]";
    else if (clock_rate == 0 || clock_rate > 1000000)
        error = "clock_rate out of range";
    else if (variable_size < 0 || padding < 0 || padding > 3
             || prefix.len + variable_size + padding > MAX_EXTENSION || plain.len > MAX_EXTENSION)
        error = "extension block too long";
    if (error == NULL) {
        self->payload_type = (uint8_t)payload_type;
        self->clock_rate = (uint32_t)clock_rate;
        memcpy(self->prefix, prefix.buf, (size_t)prefix.len);
        self->prefix_length = (int)prefix.len;
        self->variable_size = variable_size;
        self->padding = padding;
        memcpy(self->plain, plain.buf, (size_t)plain.len);
        self->plain_length = (int)plain.len;
        self->configured = 1;
    }
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&plain);
    if (error != NULL) {
        PyErr_SetString(PyExc_ValueError, error);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Outlet_skip(Outlet *self, PyObject *Py_UNUSED(ignored))
{
    self->rebase_sequence = 1;
    Py_RETURN_NONE;
}

static PyObject *
Outlet_await_keyframe(Outlet *self, PyObject *Py_UNUSED(ignored))
{
    self->awaiting_keyframe = 1;
    Py_RETURN_NONE;
}

static PyObject *
Outlet_rewrite(Outlet *self, PyObject *args)
{
    unsigned long source_ssrc, sequence, timestamp;
    double now;
    if (!PyArg_ParseTuple(args, "kkkd", &source_ssrc, &sequence, &timestamp, &now))
        return NULL;
    uint16_t out_sequence;
    uint32_t out_timestamp;
    rewrite(self, (uint32_t)source_ssrc, (uint16_t)sequence, (uint32_t)timestamp, now,
            &out_sequence, &out_timestamp);
    return Py_BuildValue("(kk)", (unsigned long)out_sequence, (unsigned long)out_timestamp);
}

static PyObject *
Outlet_source_sequence(Outlet *self, PyObject *arg)
{
    unsigned long out_sequence = PyLong_AsUnsignedLong(arg);
    if (out_sequence == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    int32_t source = self->sent_source_sequence[(uint16_t)out_sequence % SENT_WINDOW];
    /* The slot may hold a newer packet: check it maps back to this out_sequence. */
    if (source < 0 || (uint16_t)(source + self->sequence_offset) != (uint16_t)out_sequence)
        Py_RETURN_NONE;
    return PyLong_FromLong(source);
}

static PyObject *
Outlet_get_link(Outlet *self, void *Py_UNUSED(closure))
{
    return get_optional((PyObject *)self->link);
}

static int
Outlet_set_link(Outlet *self, PyObject *value, void *Py_UNUSED(closure))
{
    return set_optional((PyObject **)&self->link, value, &LinkType,
                        "an Outlet's link is a Link or None");
}

static PyObject *
Outlet_get_awaiting_keyframe(Outlet *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->awaiting_keyframe);
}

/* Headers */

/* Whether a packet's header carries its per-packet value: it has one, of the negotiated size.
 * If not, the header carries the fixed elements alone. */
static int
carries_value(Outlet *outlet, const char *extension, Py_ssize_t extension_length)
{
    return extension != NULL && outlet->variable_size > 0
           && extension_length == outlet->variable_size;
}

/* The length of the header `outlet` gives a packet. */
static Py_ssize_t
header_length(Outlet *outlet, const char *extension, Py_ssize_t extension_length)
{
    int variable = carries_value(outlet, extension, extension_length);
    return RTP_HEADER + (variable ? outlet->prefix_length + outlet->variable_size + outlet->padding
                                  : outlet->plain_length);
}

/* Write into `data` the header `outlet` gives a packet (header_length's bytes). */
static void
write_header(unsigned char *data, Outlet *outlet, uint8_t payload_type, uint32_t ssrc,
             int marker, uint16_t sequence, uint32_t timestamp, const char *extension,
             Py_ssize_t extension_length)
{
    int variable = carries_value(outlet, extension, extension_length);
    int block = variable || outlet->plain_length > 0;
    data[0] = block ? 0x90 : 0x80;
    data[1] = (unsigned char)((marker ? 0x80 : 0) | payload_type);
    data[2] = (unsigned char)(sequence >> 8);
    data[3] = (unsigned char)sequence;
    data[4] = (unsigned char)(timestamp >> 24);
    data[5] = (unsigned char)(timestamp >> 16);
    data[6] = (unsigned char)(timestamp >> 8);
    data[7] = (unsigned char)timestamp;
    data[8] = (unsigned char)(ssrc >> 24);
    data[9] = (unsigned char)(ssrc >> 16);
    data[10] = (unsigned char)(ssrc >> 8);
    data[11] = (unsigned char)ssrc;
    unsigned char *p = data + RTP_HEADER;
    if (variable) {
        memcpy(p, outlet->prefix, (size_t)outlet->prefix_length);
        p += outlet->prefix_length;
        memcpy(p, extension, (size_t)extension_length);
        p += extension_length;
        memset(p, 0, (size_t)outlet->padding);
    } else {
        memcpy(p, outlet->plain, (size_t)outlet->plain_length);
    }
}

static PyObject *
Outlet_header(Outlet *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"payload_type", "ssrc", "marker", "sequence", "timestamp",
                               "extension", NULL};
    int payload_type, marker;
    unsigned long ssrc, sequence, timestamp;
    const char *extension;
    Py_ssize_t extension_length;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "ikpkkz#", keywords, &payload_type, &ssrc,
                                     &marker, &sequence, &timestamp, &extension,
                                     &extension_length))
        return NULL;
    if (payload_type < 0 || payload_type > 127 || ssrc > UINT32_MAX || sequence > UINT16_MAX
        || timestamp > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "a header field is out of range");
        return NULL;
    }
    Py_ssize_t length = header_length(self, extension, extension_length);
    PyObject *header = PyBytes_FromStringAndSize(NULL, length);
    if (header != NULL)
        write_header((unsigned char *)PyBytes_AS_STRING(header), self, (uint8_t)payload_type,
                     (uint32_t)ssrc, marker, (uint16_t)sequence, (uint32_t)timestamp, extension,
                     extension_length);
    return header;
}

static PyMethodDef Outlet_methods[] = {
    {"configure", (PyCFunction)(void (*)(void))Outlet_configure, METH_VARARGS | METH_KEYWORDS,
     "configure(payload_type, clock_rate, prefix, variable_size, padding, plain): the negotiated "
     "payload type and clock rate, and the header extension template (rtp_rewriter.py)."},
    {"skip", (PyCFunction)Outlet_skip, METH_NOARGS,
     "The source packets from here on are not forwarded until the next one that is."},
    {"await_keyframe", (PyCFunction)Outlet_await_keyframe, METH_NOARGS,
     "Forward nothing until a packet that starts a keyframe."},
    {"rewrite", (PyCFunction)Outlet_rewrite, METH_VARARGS,
     "rewrite(source_ssrc, sequence, timestamp, now) -> (sequence, timestamp): what fan_out "
     "does to a forwarded packet's header, without sending it."},
    {"header", (PyCFunction)(void (*)(void))Outlet_header, METH_VARARGS | METH_KEYWORDS,
     "header(payload_type, ssrc, marker, sequence, timestamp, extension) -> bytes: the header "
     "this outlet gives a packet sent on its own (a retransmission): its extension block, with "
     "`extension` (bytes or None) as the per-packet value."},
    {"source_sequence", (PyCFunction)Outlet_source_sequence, METH_O,
     "The source sequence number an outgoing packet carried, if still remembered (or None)."},
    {NULL},
};

static PyMemberDef Outlet_members[] = {
    {"ssrc", T_UINT, offsetof(Outlet, ssrc), READONLY, "the subscriber's SSRC"},
    {"timestamp_offset", T_UINT, offsetof(Outlet, timestamp_offset), READONLY,
     "added (mod 2^32) to a source timestamp"},
    {"packets_sent", T_ULONGLONG, offsetof(Outlet, packets_sent), READONLY, "packets queued"},
    {"octets_sent", T_ULONGLONG, offsetof(Outlet, octets_sent), READONLY, "payload octets queued"},
    {"ntp_time", T_ULONGLONG, offsetof(Outlet, ntp_time), READONLY,
     "the NTP time the last packet was queued at"},
    {"rtp_timestamp", T_UINT, offsetof(Outlet, rtp_timestamp), READONLY,
     "the last packet's (rewritten) timestamp"},
    {NULL},
};

static PyGetSetDef Outlet_getset[] = {
    {"link", (getter)Outlet_get_link, (setter)Outlet_set_link, "the connection's Link", NULL},
    {"awaiting_keyframe", (getter)Outlet_get_awaiting_keyframe, NULL,
     "whether it forwards nothing until a keyframe", NULL},
    {NULL},
};

PyTypeObject OutletType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._packet_sender.Outlet",
    .tp_basicsize = sizeof(Outlet),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Outlet(ssrc, first_sequence, first_timestamp): one m-line of a subscriber "
              "connection, as fan_out writes its packets.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Outlet_init,
    .tp_dealloc = (destructor)Outlet_dealloc,
    .tp_methods = Outlet_methods,
    .tp_members = Outlet_members,
    .tp_getset = Outlet_getset,
};

/* The fan-out */

static int
as_uint32(PyObject *value, uint32_t *out)
{
    unsigned long v = PyLong_AsUnsignedLong(value);
    if (v == (unsigned long)-1 && PyErr_Occurred())
        return -1;
    if (v > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "a 32-bit field is out of range");
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

PyObject *
Sender_fan_out(Sender *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 11 || !PyTuple_Check(args[0]) || !PyBytes_Check(args[5])
        || (args[6] != Py_None && !PyBytes_Check(args[6]))) {
        PyErr_SetString(PyExc_TypeError,
                        "fan_out(outlets: tuple, marker, sequence, timestamp, ssrc, payload: bytes, "
                        "extension: bytes | None, keyframe, ntp_time, now, wake)");
        return NULL;
    }
    PyObject *outlets = args[0];
    uint32_t marker, sequence, timestamp, ssrc;
    if (as_uint32(args[1], &marker) < 0 || as_uint32(args[2], &sequence) < 0
        || as_uint32(args[3], &timestamp) < 0 || as_uint32(args[4], &ssrc) < 0)
        return NULL;
    int keyframe = PyObject_IsTrue(args[7]);
    unsigned long long ntp_time = PyLong_AsUnsignedLongLong(args[8]);
    double now = PyFloat_AsDouble(args[9]);
    int wake = PyObject_IsTrue(args[10]);
    if (keyframe < 0 || wake < 0 || PyErr_Occurred())
        return NULL;
    if (!self->running) {
        PyErr_SetString(PyExc_RuntimeError, "the sender is closed");
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(outlets);
    for (Py_ssize_t i = 0; i < count; i++) {
        if (!PyObject_TypeCheck(PyTuple_GET_ITEM(outlets, i), &OutletType)) {
            PyErr_SetString(PyExc_TypeError, "fan_out's outlets are Outlets");
            return NULL;
        }
    }
    const char *payload = PyBytes_AS_STRING(args[5]);
    Py_ssize_t payload_length = PyBytes_GET_SIZE(args[5]);
    const char *extension = args[6] == Py_None ? NULL : PyBytes_AS_STRING(args[6]);
    Py_ssize_t extension_length = args[6] == Py_None ? 0 : PyBytes_GET_SIZE(args[6]);

    item *spare;
    payload_buffer *shared;
    if (sender_take(self, count, &spare, &shared) < 0)
        return NULL;
    if (payload_length <= MAX_PACKET) {  /* longer, every copy is too long */
        memcpy(shared->data, payload, (size_t)payload_length);
        shared->length = (int)payload_length;
    }
    item *first = NULL, *last = NULL;
    unsigned long long queued = 0, too_long = 0;
    long waiting = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        Outlet *outlet = (Outlet *)PyTuple_GET_ITEM(outlets, i);
        if (!outlet->configured)
            continue;
        if (outlet->awaiting_keyframe) {
            if (!keyframe) {
                outlet->rebase_sequence = 1;
                waiting++;
                continue;
            }
            outlet->awaiting_keyframe = 0;
        }
        uint16_t out_sequence;
        uint32_t out_timestamp;
        rewrite(outlet, ssrc, (uint16_t)sequence, timestamp, now, &out_sequence, &out_timestamp);
        Destination *destination = outlet->link ? outlet->link->destination : NULL;
        if (destination == NULL)
            continue;  /* not connected (yet, or any more) */
        Py_ssize_t length = header_length(outlet, extension, extension_length);
        if (length + payload_length > MAX_PACKET) {
            too_long++;
            continue;
        }
        item *it = spare;
        write_header(it->header, outlet, outlet->payload_type, outlet->ssrc, (int)marker,
                     out_sequence, out_timestamp, extension, extension_length);
        it->header_length = (int)length;
        spare = it->next;
        it->next = NULL;
        it->destination = destination;
        it->protect = self->protect_rtp;
        it->payload = shared;
        if (last != NULL)
            last->next = it;
        else
            first = it;
        last = it;
        queued++;
        outlet->packets_sent++;
        outlet->octets_sent += (unsigned long long)payload_length;
        outlet->ntp_time = ntp_time;
        outlet->rtp_timestamp = out_timestamp;
    }
    if (too_long) {
        pthread_mutex_lock(&self->lock);
        self->too_long += too_long;
        pthread_mutex_unlock(&self->lock);
    }
    sender_enqueue(self, first, last, queued, shared, spare, wake);
    return PyLong_FromLong(waiting);
}
