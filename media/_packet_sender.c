/*
 * The last step of forwarding, off the event loop: SRTP-protect a serialised packet and send it.
 *
 * A class of 1 + 30 sends ~14,000 packets a second from one event loop, and protecting and
 * sending each (libsrtp, then a sendto into the kernel) was a quarter of that loop's time. Here
 * the loop only puts the packet in a queue (_outlet.c writes a publisher packet's payload once,
 * and each subscriber's header, straight into it); a thread of this module's own, which never
 * takes the GIL, joins each copy's header and payload, protects and sends them in order, on
 * another core.
 *
 * libsrtp is the one pylibsrtp carries (aiortc's): media/packet_sender.py hands over the
 * addresses of its srtp_protect and srtp_protect_rtcp, and of each session. A session must be
 * used by this thread only (packet_sender.py sees to it), and stay alive, with its socket,
 * until the packets queued for it are sent: each Destination owns both, and the queue holds a
 * reference to a Destination while packets for it wait.
 */

#define _GNU_SOURCE
#include "_packet_sender.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <structmember.h>
#include <time.h>
#include <unistd.h>

/* Kept for reuse at most: ~2 MB of items (a queued copy's header), ~1.5 MB of payloads. */
#define MAX_SPARE_ITEMS 16384
#define MAX_SPARE_PAYLOADS 1024
/* References the thread gave back, dropped at most this many at a time. */
#define RELEASE_BATCH 64

static int
Destination_init(Destination *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"session", "address", "fd", "host", "port", NULL};
    PyObject *session_owner;
    unsigned long long session;
    int fd, port;
    const char *host;
    if (self->session_owner != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OKisi", keywords, &session_owner, &session,
                                     &fd, &host, &port))
        return -1;
    if (port < 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return -1;
    }
    memset(&self->address, 0, sizeof(self->address));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&self->address;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&self->address;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        self->address_length = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        self->address_length = sizeof(*v6);
    } else {
        PyErr_Format(PyExc_ValueError, "not an IP address: %s", host);
        return -1;
    }
    /* A descriptor of our own: the socket stays open while packets wait for it, even if its
     * connection closes (and the number is reused) meanwhile. */
    self->fd = dup(fd);
    if (self->fd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    Py_INCREF(session_owner);
    self->session_owner = session_owner;
    self->session = (void *)(uintptr_t)session;
    return 0;
}

static PyObject *
Destination_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    Destination *self = (Destination *)PyType_GenericNew(type, args, kwargs);
    if (self != NULL)
        self->fd = -1;
    return (PyObject *)self;
}

static void
Destination_dealloc(Destination *self)
{
    if (self->fd >= 0)
        close(self->fd);
    Py_XDECREF(self->session_owner);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef Destination_members[] = {
    {"fd", T_INT, offsetof(Destination, fd), READONLY, "the sender's own descriptor of the socket"},
    {NULL},
};

PyTypeObject DestinationType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._packet_sender.Destination",
    .tp_basicsize = sizeof(Destination),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Destination(session, address, fd, host, port): a pylibsrtp session (and the "
              "address of its libsrtp context), a socket (duplicated) and a peer.",
    .tp_new = Destination_new,
    .tp_init = (initproc)Destination_init,
    .tp_dealloc = (destructor)Destination_dealloc,
    .tp_members = Destination_members,
};

/* With the lock held: wait up to linger_ns for more packets, unwoken. */
static void
linger_locked(Sender *self)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_nsec += self->linger_ns;
    deadline.tv_sec += deadline.tv_nsec / 1000000000L;
    deadline.tv_nsec %= 1000000000L;
    while (self->head == NULL && !self->stopping)
        if (pthread_cond_timedwait(&self->work, &self->lock, &deadline) != 0)
            break;
}

/* With the lock held: a payload whose last copy is sent, kept for reuse or freed. */
static void
recycle_payload_locked(Sender *self, payload_buffer *done)
{
    if (self->spare_payload_count < MAX_SPARE_PAYLOADS) {
        done->next = self->spare_payloads;
        self->spare_payloads = done;
        self->spare_payload_count++;
    } else {
        free(done);
        self->payloads--;
    }
}

/* With the lock held: the thread is done with the packets of `batch`. A destination with none
 * left waiting goes on the list of references to drop; the items, and the payloads whose last
 * copy they were, are kept for reuse or freed. */
static void
finish_batch_locked(Sender *self, item *batch)
{
    while (batch != NULL) {
        item *next = batch->next;
        Destination *destination = batch->destination;
        if (--destination->in_flight == 0 && destination->releases++ == 0) {
            destination->next_released = self->released;
            self->released = destination;
        }
        if (--batch->payload->copies == 0)
            recycle_payload_locked(self, batch->payload);
        if (self->spare_count < MAX_SPARE_ITEMS) {
            batch->next = self->spare;
            self->spare = batch;
            self->spare_count++;
        } else {
            free(batch);
            self->items--;
        }
        batch = next;
    }
}

static void *
Sender_run(void *argument)
{
    Sender *self = argument;
    unsigned char packet[MAX_PACKET + TRAILER_ROOM];  /* libsrtp protects in place */
    pthread_mutex_lock(&self->lock);
    for (;;) {
        /* Having sent, look again for a moment before sleeping: under load the next fan-out
         * comes within it, so the event loop need not wake the thread (a futex call it makes
         * holding the GIL) for every packet it receives. */
        if (self->head == NULL && self->linger_ns > 0)
            linger_locked(self);
        while (self->head == NULL && !self->stopping) {
            self->waiting = 1;
            pthread_cond_wait(&self->work, &self->lock);
            self->waiting = 0;
        }
        if (self->head == NULL)
            break;
        item *batch = self->head;
        self->head = self->tail = NULL;
        pthread_mutex_unlock(&self->lock);

        unsigned long long sent = 0, send_errors = 0, protect_errors = 0;
        for (item *it = batch; it != NULL; it = it->next) {
            Destination *destination = it->destination;
            int length = it->header_length + it->payload->length;
            memcpy(packet, it->header, (size_t)it->header_length);
            memcpy(packet + it->header_length, it->payload->data, (size_t)it->payload->length);
            if (it->protect(destination->session, packet, &length) != 0)
                protect_errors++;
            else if (sendto(destination->fd, packet, (size_t)length, MSG_DONTWAIT,
                            (struct sockaddr *)&destination->address,
                            destination->address_length) < 0)
                send_errors++;  /* a full socket buffer drops, as a network would */
            sent++;
        }

        pthread_mutex_lock(&self->lock);
        finish_batch_locked(self, batch);
        self->done += sent;
        self->send_errors += send_errors;
        self->protect_errors += protect_errors;
        if (self->head == NULL)
            pthread_cond_broadcast(&self->idle);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

/* With the lock held: take up to RELEASE_BATCH references the thread gave back. */
static int
take_released_locked(Sender *self, Destination **taken, unsigned long *counts)
{
    int n = 0;
    while (self->released != NULL && n < RELEASE_BATCH) {
        Destination *destination = self->released;
        self->released = destination->next_released;
        taken[n] = destination;
        counts[n] = destination->releases;
        self->destinations_held -= destination->releases;
        destination->releases = 0;
        n++;
    }
    return n;
}

/* With the GIL, not the lock: dropping the last reference closes a socket. */
static void
drop_released(Destination **taken, unsigned long *counts, int n)
{
    for (int i = 0; i < n; i++)
        for (unsigned long k = 0; k < counts[i]; k++)
            Py_DECREF(taken[i]);
}

/* Drop every reference the thread gave back so far. */
static void
collect_released(Sender *self)
{
    Destination *taken[RELEASE_BATCH];
    unsigned long counts[RELEASE_BATCH];
    int n;
    do {
        pthread_mutex_lock(&self->lock);
        n = take_released_locked(self, taken, counts);
        pthread_mutex_unlock(&self->lock);
        drop_released(taken, counts, n);
    } while (n == RELEASE_BATCH);
}

static int
Sender_init(Sender *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"protect_rtp", "protect_rtcp", "linger_ns", NULL};
    unsigned long long protect_rtp, protect_rtcp;
    long linger_ns = 0;
    if (self->running) {
        PyErr_SetString(PyExc_RuntimeError, "already started");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "KK|l", keywords, &protect_rtp, &protect_rtcp,
                                     &linger_ns))
        return -1;
    if (linger_ns < 0 || linger_ns >= 1000000000L) {
        PyErr_SetString(PyExc_ValueError, "linger_ns must be in [0, 1 s)");
        return -1;
    }
    self->protect_rtp = (protect_function)(uintptr_t)protect_rtp;
    self->protect_rtcp = (protect_function)(uintptr_t)protect_rtcp;
    self->linger_ns = linger_ns;
    pthread_mutex_init(&self->lock, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&self->work, &monotonic);
    pthread_condattr_destroy(&monotonic);
    pthread_cond_init(&self->idle, NULL);
    if (pthread_create(&self->thread, NULL, Sender_run, self) != 0) {
        PyErr_SetString(PyExc_OSError, "cannot start the sending thread");
        return -1;
    }
    pthread_setname_np(self->thread, "packet-sender");  /* as top and /proc show it */
    self->running = 1;
    return 0;
}

/* With the lock held: wake the thread if it sleeps (not if it lingers) while packets wait. */
static void
wake_thread_locked(Sender *self)
{
    if (self->waiting && self->head != NULL) {
        pthread_cond_signal(&self->work);
        self->wakeups++;
    }
}

int
sender_take(Sender *self, Py_ssize_t wanted, item **items, payload_buffer **shared)
{
    item *first = NULL;
    payload_buffer *buffer = NULL;
    Py_ssize_t taken = 0;
    pthread_mutex_lock(&self->lock);
    while (self->spare != NULL && taken < wanted) {
        item *it = self->spare;
        self->spare = it->next;
        self->spare_count--;
        it->next = first;
        first = it;
        taken++;
    }
    if (self->spare_payloads != NULL) {
        buffer = self->spare_payloads;
        self->spare_payloads = buffer->next;
        self->spare_payload_count--;
    }
    pthread_mutex_unlock(&self->lock);
    unsigned long long allocated_items = 0, allocated_payloads = 0;
    for (; taken < wanted; taken++, allocated_items++) {
        item *it = malloc(sizeof(item));
        if (it == NULL)
            break;
        it->next = first;
        first = it;
    }
    if (buffer == NULL && (buffer = malloc(sizeof(payload_buffer))) != NULL)
        allocated_payloads = 1;
    pthread_mutex_lock(&self->lock);
    self->items += allocated_items;
    self->payloads += allocated_payloads;
    pthread_mutex_unlock(&self->lock);
    if (taken < wanted || buffer == NULL) {
        sender_enqueue(self, NULL, NULL, 0, buffer, first, 0);
        PyErr_NoMemory();
        return -1;
    }
    buffer->length = 0;
    *items = first;
    *shared = buffer;
    return 0;
}

void
sender_enqueue(Sender *self, item *first, item *last, unsigned long long count,
               payload_buffer *shared, item *spare, int wake)
{
    Destination *taken[RELEASE_BATCH];
    unsigned long counts[RELEASE_BATCH];
    pthread_mutex_lock(&self->lock);
    for (item *it = first; it != NULL; it = it->next) {
        Destination *destination = it->destination;
        if (destination->in_flight++ == 0) {
            Py_INCREF(destination);
            self->destinations_held++;
        }
    }
    if (first != NULL) {
        if (self->tail != NULL)
            self->tail->next = first;
        else
            self->head = first;
        self->tail = last;
        self->queued += count;
        if (self->queued - self->done > self->most_waiting)
            self->most_waiting = self->queued - self->done;
    }
    if (shared != NULL) {
        shared->copies = (unsigned long)count;
        if (count == 0)
            recycle_payload_locked(self, shared);
    }
    while (spare != NULL) {
        item *next = spare->next;
        spare->next = self->spare;
        self->spare = spare;
        self->spare_count++;
        spare = next;
    }
    if (wake)
        wake_thread_locked(self);
    int n = take_released_locked(self, taken, counts);
    pthread_mutex_unlock(&self->lock);
    drop_released(taken, counts, n);
}

static PyObject *
Sender_send(Sender *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyObject_TypeCheck(args[0], &DestinationType) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "send(destination, data: bytes, rtcp: bool, wake: bool)");
        return NULL;
    }
    Destination *destination = (Destination *)args[0];
    Py_ssize_t length = PyBytes_GET_SIZE(args[1]);
    if (length > MAX_PACKET) {
        PyErr_SetString(PyExc_ValueError, "packet is too long");
        return NULL;
    }
    if (destination->session_owner == NULL) {
        PyErr_SetString(PyExc_ValueError, "destination not initialised");
        return NULL;
    }
    int rtcp = PyObject_IsTrue(args[2]);
    int wake = PyObject_IsTrue(args[3]);
    if (rtcp < 0 || wake < 0)
        return NULL;
    if (!self->running) {
        PyErr_SetString(PyExc_RuntimeError, "the sender is closed");
        return NULL;
    }
    item *it;
    payload_buffer *whole;
    if (sender_take(self, 1, &it, &whole) < 0)
        return NULL;
    it->next = NULL;
    it->destination = destination;
    it->protect = rtcp ? self->protect_rtcp : self->protect_rtp;
    it->header_length = 0;
    it->payload = whole;
    whole->length = (int)length;
    memcpy(whole->data, PyBytes_AS_STRING(args[1]), (size_t)length);
    sender_enqueue(self, it, it, 1, whole, NULL, wake);
    Py_RETURN_NONE;
}

static PyObject *
Sender_wake(Sender *self, PyObject *Py_UNUSED(ignored))
{
    pthread_mutex_lock(&self->lock);
    wake_thread_locked(self);
    pthread_mutex_unlock(&self->lock);
    Py_RETURN_NONE;
}

static PyObject *
Sender_collect(Sender *self, PyObject *Py_UNUSED(ignored))
{
    collect_released(self);
    pthread_mutex_lock(&self->lock);
    unsigned long held = self->destinations_held;
    pthread_mutex_unlock(&self->lock);
    return PyLong_FromUnsignedLong(held);
}

static PyObject *
Sender_drain(Sender *self, PyObject *Py_UNUSED(ignored))
{
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->lock);
    pthread_cond_signal(&self->work);  /* lingering, it would not look before its time is up */
    while (self->running && self->done != self->queued)
        pthread_cond_wait(&self->idle, &self->lock);
    pthread_mutex_unlock(&self->lock);
    Py_END_ALLOW_THREADS
    collect_released(self);
    Py_RETURN_NONE;
}

static void
Sender_stop(Sender *self)
{
    if (!self->running)
        return;
    pthread_mutex_lock(&self->lock);
    self->stopping = 1;
    pthread_cond_signal(&self->work);
    pthread_mutex_unlock(&self->lock);
    Py_BEGIN_ALLOW_THREADS
    pthread_join(self->thread, NULL);
    Py_END_ALLOW_THREADS
    self->running = 0;
    collect_released(self);  /* the thread sent everything queued before it stopped */
}

static PyObject *
Sender_close(Sender *self, PyObject *Py_UNUSED(ignored))
{
    Sender_stop(self);
    Py_RETURN_NONE;
}

static PyObject *
Sender_counters(Sender *self, PyObject *Py_UNUSED(ignored))
{
    pthread_mutex_lock(&self->lock);
    unsigned long long queued = self->queued, done = self->done;
    unsigned long long send_errors = self->send_errors, protect_errors = self->protect_errors;
    unsigned long long too_long = self->too_long, wakeups = self->wakeups;
    unsigned long long buffer_bytes = self->items * sizeof(item)
                                      + self->payloads * sizeof(payload_buffer);
    unsigned long long most_waiting = self->most_waiting;
    pthread_mutex_unlock(&self->lock);
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "queued", queued, "done", done,
                         "send_errors", send_errors, "protect_errors", protect_errors,
                         "too_long", too_long, "wakeups", wakeups, "buffer_bytes", buffer_bytes,
                         "most_waiting", most_waiting);
}

static void
Sender_dealloc(Sender *self)
{
    Sender_stop(self);
    for (item *it = self->spare; it != NULL;) {
        item *next = it->next;
        free(it);
        it = next;
    }
    for (payload_buffer *buffer = self->spare_payloads; buffer != NULL;) {
        payload_buffer *next = buffer->next;
        free(buffer);
        buffer = next;
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Sender_methods[] = {
    {"send", (PyCFunction)(void (*)(void))Sender_send, METH_FASTCALL,
     "send(destination, data, rtcp, wake): queue one serialised RTP (or RTCP) packet; wake the "
     "thread if it sleeps, or leave that to wake()."},
    {"fan_out", (PyCFunction)(void (*)(void))Sender_fan_out, METH_FASTCALL,
     "fan_out(outlets, marker, sequence, timestamp, ssrc, payload, extension, keyframe, "
     "ntp_time, now, wake) -> int: queue a publisher's RTP packet once for each outlet (see "
     "_outlet.c); returns how many outlets still wait for a keyframe."},
    {"wake", (PyCFunction)Sender_wake, METH_NOARGS, "Wake the thread if packets wait for it."},
    {"collect", (PyCFunction)Sender_collect, METH_NOARGS,
     "Let go of the destinations whose packets are all sent; returns how many it still holds."},
    {"drain", (PyCFunction)Sender_drain, METH_NOARGS, "Wait until everything queued is sent."},
    {"close", (PyCFunction)Sender_close, METH_NOARGS, "Send what is queued, then stop the thread."},
    {"counters", (PyCFunction)Sender_counters, METH_NOARGS,
     "queued, done, send_errors, protect_errors, too_long (copies a fan-out could not fit in a "
     "datagram), wakeups (by the caller: not while it lingers), buffer_bytes (allocated for "
     "queued, spare and filling packets), most_waiting (the longest queue so far)"},
    {NULL},
};

static PyTypeObject SenderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._packet_sender.Sender",
    .tp_basicsize = sizeof(Sender),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Sender(protect_rtp, protect_rtcp, linger_ns=0): a queue of packets protected and "
              "sent by a thread, which looks again for linger_ns after sending before it sleeps.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Sender_init,
    .tp_dealloc = (destructor)Sender_dealloc,
    .tp_methods = Sender_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "media._packet_sender",
    .m_doc = "SRTP protection and sending on a thread of its own (see media/packet_sender.py), "
             "and the fan-out of a publisher's packets onto it (see media/rtp_rewriter.py).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__packet_sender(void)
{
    PyTypeObject *types[] = {&DestinationType, &SenderType, &LinkType, &OutletType};
    const char *names[] = {"Destination", "Sender", "Link", "Outlet"};
    for (int i = 0; i < 4; i++)
        if (PyType_Ready(types[i]) < 0)
            return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    for (int i = 0; i < 4; i++) {
        Py_INCREF(types[i]);
        if (PyModule_AddObject(m, names[i], (PyObject *)types[i]) < 0) {
            Py_DECREF(types[i]);
            Py_DECREF(m);
            return NULL;
        }
    }
    if (PyModule_AddIntConstant(m, "MAX_PACKET", MAX_PACKET) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
