/*
 * The last step of forwarding, off the event loop: SRTP-protect a serialised packet and send it.
 *
 * A class of 1 + 30 sends ~14,000 packets a second from one event loop, and protecting and
 * sending each (libsrtp, then a sendto into the kernel) was a quarter of that loop's time. Here
 * the loop only copies the packet into a queue; a thread of this module's own, which never takes
 * the GIL, protects and sends the queue in order, on another core.
 *
 * libsrtp is the one pylibsrtp carries (aiortc's): media/packet_sender.py hands over the
 * addresses of its srtp_protect and srtp_protect_rtcp, and of each session. A session must be
 * used by this thread only, and stay alive, with its socket, until the packets queued for it
 * are sent: packet_sender.py sees to both.
 */

#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* srtp_err_status_t srtp_protect(srtp_t ctx, void *rtp_hdr, int *len_ptr), and _rtcp. */
typedef int (*protect_function)(void *session, void *packet, int *length);

#define MAX_PACKET 1500
/* libsrtp appends at most a 16-byte tag, a 128-byte MKI and (SRTCP) a 4-byte index. */
#define TRAILER_ROOM 160
#define MAX_SPARE_ITEMS 4096

typedef struct item {
    struct item *next;
    void *session;
    protect_function protect;
    int fd;
    socklen_t address_length;
    struct sockaddr_storage address;
    int length;
    unsigned char data[MAX_PACKET + TRAILER_ROOM];
} item;

/* Where packets go: an SRTP session, a socket and the peer's address. */
typedef struct {
    PyObject_HEAD
    void *session;
    int fd;
    socklen_t address_length;
    struct sockaddr_storage address;
} Destination;

typedef struct {
    PyObject_HEAD
    pthread_t thread;
    int running;
    pthread_mutex_t lock;
    pthread_cond_t work;
    pthread_cond_t idle;
    item *head;
    item *tail;
    item *spare;
    int spare_count;
    int waiting;
    int stopping;
    long linger_ns;
    protect_function protect_rtp;
    protect_function protect_rtcp;
    unsigned long long queued;
    unsigned long long done;
    unsigned long long send_errors;
    unsigned long long protect_errors;
    unsigned long long wakeups;
} Sender;

static int
Destination_init(Destination *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"session", "fd", "host", "port", NULL};
    unsigned long long session;
    int fd, port;
    const char *host;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Kisi", keywords, &session, &fd, &host, &port))
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
    self->session = (void *)(uintptr_t)session;
    self->fd = fd;
    return 0;
}

static PyTypeObject DestinationType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._packet_sender.Destination",
    .tp_basicsize = sizeof(Destination),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Destination(session, fd, host, port): an SRTP session's address, a socket, a peer.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Destination_init,
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

static void *
Sender_run(void *argument)
{
    Sender *self = argument;
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
        item *batch = self->head, *last = NULL;
        self->head = self->tail = NULL;
        pthread_mutex_unlock(&self->lock);

        unsigned long long sent = 0, send_errors = 0, protect_errors = 0;
        for (item *it = batch; it != NULL; it = it->next) {
            int length = it->length;
            if (it->protect(it->session, it->data, &length) != 0)
                protect_errors++;
            else if (sendto(it->fd, it->data, (size_t)length, MSG_DONTWAIT,
                            (struct sockaddr *)&it->address, it->address_length) < 0)
                send_errors++;  /* a full socket buffer drops, as a network would */
            sent++;
            last = it;
        }

        pthread_mutex_lock(&self->lock);
        if (self->spare_count < MAX_SPARE_ITEMS) {
            last->next = self->spare;
            self->spare = batch;
            self->spare_count += (int)sent;
        } else {
            while (batch != NULL) {
                item *next = batch->next;
                free(batch);
                batch = next;
            }
        }
        self->done += sent;
        self->send_errors += send_errors;
        self->protect_errors += protect_errors;
        if (self->head == NULL)
            pthread_cond_broadcast(&self->idle);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
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
    int rtcp = PyObject_IsTrue(args[2]);
    int wake = PyObject_IsTrue(args[3]);
    if (rtcp < 0 || wake < 0)
        return NULL;
    if (!self->running) {
        PyErr_SetString(PyExc_RuntimeError, "the sender is closed");
        return NULL;
    }

    pthread_mutex_lock(&self->lock);
    item *it = self->spare;
    if (it != NULL) {
        self->spare = it->next;
        self->spare_count--;
    }
    pthread_mutex_unlock(&self->lock);
    if (it == NULL && (it = malloc(sizeof(item))) == NULL)
        return PyErr_NoMemory();

    it->next = NULL;
    it->session = destination->session;
    it->protect = rtcp ? self->protect_rtcp : self->protect_rtp;
    it->fd = destination->fd;
    it->address_length = destination->address_length;
    memcpy(&it->address, &destination->address, destination->address_length);
    it->length = (int)length;
    memcpy(it->data, PyBytes_AS_STRING(args[1]), (size_t)length);

    pthread_mutex_lock(&self->lock);
    if (self->tail != NULL)
        self->tail->next = it;
    else
        self->head = it;
    self->tail = it;
    self->queued++;
    if (wake)
        wake_thread_locked(self);
    pthread_mutex_unlock(&self->lock);
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
Sender_drain(Sender *self, PyObject *Py_UNUSED(ignored))
{
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->lock);
    pthread_cond_signal(&self->work);  /* lingering, it would not look before its time is up */
    while (self->running && self->done != self->queued)
        pthread_cond_wait(&self->idle, &self->lock);
    pthread_mutex_unlock(&self->lock);
    Py_END_ALLOW_THREADS
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
    unsigned long long wakeups = self->wakeups;
    pthread_mutex_unlock(&self->lock);
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K}", "queued", queued, "done", done,
                         "send_errors", send_errors, "protect_errors", protect_errors,
                         "wakeups", wakeups);
}

static PyObject *
Sender_get_done(Sender *self, void *Py_UNUSED(closure))
{
    pthread_mutex_lock(&self->lock);
    unsigned long long done = self->done;
    pthread_mutex_unlock(&self->lock);
    return PyLong_FromUnsignedLongLong(done);
}

static void
Sender_dealloc(Sender *self)
{
    Sender_stop(self);
    item *lists[2] = {self->head, self->spare};
    for (int i = 0; i < 2; i++) {
        for (item *it = lists[i]; it != NULL;) {
            item *next = it->next;
            free(it);
            it = next;
        }
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Sender_methods[] = {
    {"send", (PyCFunction)(void (*)(void))Sender_send, METH_FASTCALL,
     "send(destination, data, rtcp, wake): queue one serialised RTP (or RTCP) packet; wake the "
     "thread if it sleeps, or leave that to wake()."},
    {"wake", (PyCFunction)Sender_wake, METH_NOARGS, "Wake the thread if packets wait for it."},
    {"drain", (PyCFunction)Sender_drain, METH_NOARGS, "Wait until everything queued is sent."},
    {"close", (PyCFunction)Sender_close, METH_NOARGS, "Send what is queued, then stop the thread."},
    {"counters", (PyCFunction)Sender_counters, METH_NOARGS,
     "queued, done, send_errors, protect_errors, wakeups (by the caller: not while it lingers)"},
    {NULL},
};

static PyGetSetDef Sender_getset[] = {
    {"done", (getter)Sender_get_done, NULL, "packets handled so far (sent or failed)", NULL},
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
    .tp_getset = Sender_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "media._packet_sender",
    .m_doc = "SRTP protection and sending on a thread of its own (see media/packet_sender.py).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__packet_sender(void)
{
    if (PyType_Ready(&DestinationType) < 0 || PyType_Ready(&SenderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&DestinationType);
    Py_INCREF(&SenderType);
    if (PyModule_AddObject(m, "Destination", (PyObject *)&DestinationType) < 0 ||
        PyModule_AddObject(m, "Sender", (PyObject *)&SenderType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
