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

typedef struct item {
    struct item *next;
    Destination *destination;
    protect_function protect;
    int length;
    unsigned char data[MAX_PACKET + TRAILER_ROOM];
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

/* Up to `wanted` items for the caller to fill (recycled, or newly allocated); NULL if out of
 * memory (with the exception set). Takes the lock. */
item *sender_take_items(Sender *self, Py_ssize_t wanted);
/* Queue the chain first..last (count items, each with its destination set) and give back the
 * unused chain `spare` (may be NULL); wake the thread if asked and it sleeps. Takes the lock;
 * drops references the thread gave back. */
void sender_enqueue(Sender *self, item *first, item *last, unsigned long long count, item *spare,
                    int wake);

/* Sender.fan_out (in _outlet.c). */
PyObject *Sender_fan_out(Sender *self, PyObject *const *args, Py_ssize_t nargs);

#endif
