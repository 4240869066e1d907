// Per-thread CPU time of any program: preloaded, it wraps pthread_create so that each thread
// prints its CPU time (CLOCK_THREAD_CPUTIME_ID), user and system time and context switches to
// stderr as it ends, and the main thread at exit. Threads are numbered in creation order (0: the
// main thread).
//
//   cc -O2 -shared -fPIC -o thread_cpu.so bench/tools/thread_cpu.c -ldl
//   LD_PRELOAD=$PWD/thread_cpu.so build-pgo/frag53 analyze CAPTURE -q --summary-json /dev/null --events /dev/null
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

struct start {
    void *(*fn)(void *);
    void *arg;
    int id;
};

static int next_id = 1;

static void report(int id) {
    struct rusage ru;
    struct timespec ts;
    getrusage(RUSAGE_THREAD, &ru);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    fprintf(stderr, "thread %d cpu %.4f (user %.4f sys %.4f) nvcsw %ld nivcsw %ld\n", id,
            (double)ts.tv_sec + (double)ts.tv_nsec / 1e9,
            (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
            (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, ru.ru_nvcsw, ru.ru_nivcsw);
}

static void *trampoline(void *p) {
    struct start s = *(struct start *)p;
    free(p);
    void *r = s.fn(s.arg);
    report(s.id);
    return r;
}

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real) real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(RTLD_NEXT, "pthread_create");
    struct start *s = malloc(sizeof *s);
    if (!s) return real(t, attr, fn, arg);
    s->fn = fn;
    s->arg = arg;
    s->id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
    return real(t, attr, trampoline, s);
}

__attribute__((destructor)) static void at_exit_report(void) { report(0); }
