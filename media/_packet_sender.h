/*
 * What the packet sender's queue (_packet_sender.c) and the fan-out onto it (_outlet.c) share.
 */

#ifndef AULA_PACKET_SENDER_H
#define AULA_PACKET_SENDER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#define MAX_PACKET 1500
#define RTP_HEADER 12
/* An RFC 8285 one-byte extension block of a few elements (mid, abs-send-time, audio level). */
#define MAX_EXTENSION 64
#define MAX_HEADER (RTP_HEADER + MAX_EXTENSION)
/* libsrtp appends at most a 16-byte tag, a 128-byte MKI and (SRTCP) a 4-byte index. */
#define TRAILER_ROOM 160

/* srtp_err_status_t srtp_protect(srtp_t ctx, void *rtp_hdr, int *len_ptr), and _rtcp. */
typedef int (*protect_function)(void *session, void *packet, int *length);

/* Where packets go: an SRTP session, a socket (a descriptor of its own) and the peer's address.
 * The queue holds a reference to it while packets for it wait, so a connection may close (and
 * drop its destination) with packets still queued: they go out, then the socket closes. */
typedef struct Destination {
    PyObject_HEAD
    PyObject *session_owner;  /* the pylibsrtp Session owning `session` */
    void *session;
    int fd;
    socklen_t address_length;
    struct sockaddr_storage address;
    /* Under the sender's lock. */
    unsigned long in_flight;      /* packets queued for it and not yet sent */
    unsigned long releases;       /* references the thread gave back, to drop with the GIL */
    struct Destination *next_released;
} Destination;

/* The bytes after a copy's own header, written once for all the copies of a fan-out (the
 * publisher's payload) or the whole packet (Sender.send). The thread puts it back among the
 * spare ones once the last copy is sent: a queued copy costs its header, not a datagram. */
typedef struct payload_buffer {
    struct payload_buffer *next;  /* among the spare ones */
    unsigned long copies;  /* queued and not yet sent; under the sender's lock */
    int length;
    unsigned char data[MAX_PACKET];
} payload_buffer;

/* One datagram to send: `header` (header_length bytes; none from Sender.send), then `payload`. */
typedef struct item {
    struct item *next;
    Destination *destination;
    protect_function protect;
    payload_buffer *payload;
    int header_length;
    unsigned char header[MAX_HEADER];
} item;

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
    payload_buffer *spare_payloads;
    int spare_payload_count;
    /* Allocated and not freed: queued, spare or being filled. */
    unsigned long long items;
    unsigned long long payloads;
    unsigned long long most_waiting;  /* the longest the queue has been, in items */
    Destination *released;
    unsigned long destinations_held;
    int waiting;
    int stopping;
    long linger_ns;
    protect_function protect_rtp;
    protect_function protect_rtcp;
    unsigned long long queued;
    unsigned long long done;
    unsigned long long send_errors;
    unsigned long long protect_errors;
    unsigned long long too_long;
    unsigned long long wakeups;
} Sender;

extern PyTypeObject DestinationType;
extern PyTypeObject LinkType;
extern PyTypeObject OutletType;

/* A chain of `wanted` items and one payload for the caller to fill (recycled, or newly
 * allocated); -1 if out of memory (with the exception set). Takes the lock. */
int sender_take(Sender *self, Py_ssize_t wanted, item **items, payload_buffer **shared);
/* Queue the chain first..last (count items, each with its destination and header set, all
 * carrying `shared`), and give back the unused chain `spare` (may be NULL), and `shared` if no
 * item carries it; wake the thread if asked and it sleeps. Takes the lock; drops references
 * the thread gave back. */
void sender_enqueue(Sender *self, item *first, item *last, unsigned long long count,
                    payload_buffer *shared, item *spare, int wake);

/* Sender.fan_out (in _outlet.c). */
PyObject *Sender_fan_out(Sender *self, PyObject *const *args, Py_ssize_t nargs);

#endif
