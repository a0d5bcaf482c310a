/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fdsetd: holds file descriptors passed by a manager over QMP in numbered
 * fdsets and serves /dev/fdset/N opens from them.
 *
 * Start-up order: fd limit, registry, audit trail, -add-fd (before anything
 * can open /dev/fdset/N), monitor sockets, --blockdev, daemonize, sandbox,
 * then serve.  Only main() exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"
#include "block/export.h"
#include "fdsetd-service.h"
#include "qemu/json-parse.h"
#include "monitor/monitor.h"
#include "qemu/audit.h"
#include "qemu/error.h"
#include "qemu/fdset-cmdline.h"
#include "qemu/fdset.h"
#include "qemu/osdep.h"
#include "qemu/sandbox.h"

typedef struct Options {
    GPtrArray *qmp;           /* -qmp specs */
    GPtrArray *chardevs;
    GPtrArray *monitors;
    GPtrArray *add_fds;       /* pairs: option as typed, value */
    GPtrArray *blockdevs;
    GPtrArray *nbd_servers;
    GPtrArray *exports;
    char *pidfile;
    char *audit;
    bool daemonize;
    bool persistent_fds;
    bool fdset_events;
    bool sandbox;
    FdSetLimits fdset_limits;
    MonitorLimits monitor_limits;
} Options;

static const char *prog_name = "fdsetd";

static void G_GNUC_NORETURN die(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static void die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void usage(void)
{
    printf(
        "Usage: %s [options]\n"
        "\n"
        "Holds file descriptors passed over QMP (add-fd) in fdsets and\n"
        "serves /dev/fdset/N opens from them.\n"
        "\n"
        "  -qmp, --qmp unix:PATH,server=on,wait=off[,mode=0600]"
        "[,peer-uid=UID[:UID...]]\n"
        "                        QMP monitor on a unix socket (repeatable)\n"
        "  --chardev socket,id=ID,path=PATH,server=on,wait=off\n"
        "  --monitor chardev=ID  the same, qemu-storage-daemon style\n"
        "  -add-fd, --add-fd fd=FD,set=SET[,opaque=STR]\n"
        "                        put inherited fd FD into fdset SET\n"
        "  --blockdev JSON|KEY=VAL,...  create a block node at start-up\n"
        "  --nbd-server addr.type=unix,addr.path=PATH[,max-connections=N]\n"
        "                        start the NBD server (also addr.type=inet,\n"
        "                        addr.host=H,addr.port=P or addr.type=fd,\n"
        "                        addr.str=FD)\n"
        "  --export type=nbd,id=ID,node-name=NODE[,name=NAME][,writable=on]\n"
        "                        export a node over NBD\n"
        "  --persistent-fds      add-fd members outlive their connection\n"
        "                        (QEMU 9.1 behaviour; default: reaped on\n"
        "                        disconnect unless in use or persistent)\n"
        "  --fdset-events        send FDSET_* events to every monitor, not\n"
        "                        only those that enable the 'fdset-events'\n"
        "                        capability\n"
        "  --strict-same-file    refuse a member that is another file than\n"
        "                        the rest of its set\n"
        "  --sandbox on|off      after start-up, forbid opening any path\n"
        "  --audit PATH|-        audit trail of every fd add/remove/dup/\n"
        "                        release/free ('-' = stderr)\n"
        "  --max-sets N, --max-fds-per-set N, --max-fds-total N,\n"
        "  --max-fds-per-message N, --max-message-size BYTES,\n"
        "  --max-json-depth N, --max-connections N   limits\n"
        "  --daemonize           detach once ready\n"
        "  --pidfile PATH        write the daemon's pid\n"
        "  -V, --version         print the version\n"
        "  -h, --help            this help\n",
        prog_name);
}

/* A numeric limit option: positive, fits in guint. */
static guint parse_limit(const char *opt, const char *value)
{
    guint64 v;

    if (!g_ascii_string_to_unsigned(value, 10, 1, G_MAXUINT, &v, NULL)) {
        die("%s: '%s' is not a positive number", opt, value);
    }
    return v;
}

/* Does @arg name option @name as -name, --name or --name=...? */
static bool opt_is(const char *arg, const char *name, const char **inline_val)
{
    const char *p = arg;

    *inline_val = NULL;
    if (p[0] != '-') {
        return false;
    }
    p += p[1] == '-' ? 2 : 1;
    size_t n = strlen(name);
    if (strncmp(p, name, n) != 0) {
        return false;
    }
    if (p[n] == '=') {
        *inline_val = p + n + 1;
        return true;
    }
    return p[n] == '\0';
}

static const char *opt_value(int argc, char **argv, int *i,
                             const char *inline_val)
{
    if (inline_val) {
        return inline_val;
    }
    if (*i + 1 >= argc) {
        die("option '%s' needs a value", argv[*i]);
    }
    return argv[++*i];
}

static bool parse_limit_option(const char *name, const char *value,
                               Options *o)
{
    if (!strcmp(name, "max-sets")) {
        o->fdset_limits.max_sets = parse_limit(name, value);
    } else if (!strcmp(name, "max-fds-per-set")) {
        o->fdset_limits.max_fds_per_set = parse_limit(name, value);
    } else if (!strcmp(name, "max-fds-total")) {
        o->fdset_limits.max_fds_total = parse_limit(name, value);
    } else if (!strcmp(name, "max-fds-per-message")) {
        o->monitor_limits.max_fds_per_message = MIN(parse_limit(name, value),
                                                    253);
    } else if (!strcmp(name, "max-message-size")) {
        o->monitor_limits.max_message_size = parse_limit(name, value);
    } else if (!strcmp(name, "max-json-depth")) {
        o->monitor_limits.max_json_depth = parse_limit(name, value);
        if (o->monitor_limits.max_json_depth > JSON_CHECK_MAX_DEPTH) {
            die("max-json-depth: at most %d", JSON_CHECK_MAX_DEPTH);
        }
    } else if (!strcmp(name, "max-connections")) {
        o->monitor_limits.max_connections = parse_limit(name, value);
    } else {
        return false;
    }
    return true;
}

static const char *const limit_names[] = {
    "max-sets", "max-fds-per-set", "max-fds-total", "max-fds-per-message",
    "max-message-size", "max-json-depth", "max-connections", NULL
};

/* "--add-fd=x" was typed as one word: the option name alone. */
static char *option_name(const char *typed)
{
    return g_strndup(typed, strcspn(typed, "="));
}

/* Syntax errors show while reading the command line, as in QEMU. */
static void add_fd_option(Options *o, const char *typed, const char *value)
{
    g_autoptr(GError) err = NULL;

    if (!fdset_cmdline_check(value, &err)) {
        g_autofree char *name = option_name(typed);
        die("%s %s: %s", name, value, err->message);
    }
    g_ptr_array_add(o->add_fds, (char *)typed);
    g_ptr_array_add(o->add_fds, (char *)value);
}

/* Options that take a value, and the list each one appends to. */
static GPtrArray *list_for(Options *o, const char *arg, const char **val)
{
    if (opt_is(arg, "qmp", val)) {
        return o->qmp;
    }
    if (opt_is(arg, "chardev", val)) {
        return o->chardevs;
    }
    if (opt_is(arg, "monitor", val)) {
        return o->monitors;
    }
    if (opt_is(arg, "blockdev", val)) {
        return o->blockdevs;
    }
    if (opt_is(arg, "nbd-server", val)) {
        return o->nbd_servers;
    }
    if (opt_is(arg, "export", val)) {
        return o->exports;
    }
    return NULL;
}

static bool parse_one(Options *o, int argc, char **argv, int *i)
{
    const char *arg = argv[*i], *val;
    GPtrArray *list = list_for(o, arg, &val);

    if (list) {
        g_ptr_array_add(list, (char *)opt_value(argc, argv, i, val));
    } else if (opt_is(arg, "add-fd", &val)) {
        add_fd_option(o, arg, opt_value(argc, argv, i, val));
    } else if (opt_is(arg, "pidfile", &val)) {
        o->pidfile = g_strdup(opt_value(argc, argv, i, val));
    } else if (opt_is(arg, "audit", &val)) {
        o->audit = g_strdup(opt_value(argc, argv, i, val));
    } else if (opt_is(arg, "sandbox", &val)) {
        const char *v = opt_value(argc, argv, i, val);
        if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
            die("--sandbox: expected 'on' or 'off', not '%s'", v);
        }
        o->sandbox = !strcmp(v, "on");
    } else if (opt_is(arg, "daemonize", &val)) {
        o->daemonize = true;
    } else if (opt_is(arg, "fdset-events", &val)) {
        o->fdset_events = true;
    } else if (opt_is(arg, "persistent-fds", &val)) {
        o->persistent_fds = true;
    } else if (opt_is(arg, "strict-same-file", &val)) {
        o->fdset_limits.strict_same_file = true;
    } else {
        for (guint k = 0; limit_names[k]; k++) {
            if (opt_is(arg, limit_names[k], &val)) {
                return parse_limit_option(limit_names[k],
                                          opt_value(argc, argv, i, val), o);
            }
        }
        return false;
    }
    return true;
}

static void parse_args(Options *o, int argc, char **argv)
{
    const char *val;

    for (int i = 1; i < argc; i++) {
        if (opt_is(argv[i], "h", &val) || opt_is(argv[i], "help", &val)) {
            usage();
            exit(0);
        }
        if (opt_is(argv[i], "V", &val) || opt_is(argv[i], "version", &val)) {
            printf("fdsetd %s (QMP as QEMU 7.2)\n", FDSETD_VERSION);
            exit(0);
        }
        if (!parse_one(o, argc, argv, &i)) {
            die("unknown option '%s' (try --help)", argv[i]);
        }
    }
    if (!o->qmp->len && !o->monitors->len && !service_qmp_socket_count()) {
        die("no monitor: give at least one "
            "--qmp unix:PATH,server=on,wait=off (or pass a socket: "
            "LISTEN_FDS)");
    }
}

/* fdsetd holds many fds by design: use all the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void take_cmdline_fds(Options *o)
{
    for (guint i = 0; i < o->add_fds->len; i += 2) {
        const char *opt = g_ptr_array_index(o->add_fds, i);
        const char *val = g_ptr_array_index(o->add_fds, i + 1);
        g_autoptr(GError) err = NULL;
        g_autofree char *name = option_name(opt);

        if (!fdset_cmdline_add_fd(name, val, &err)) {
            die("%s %s: %s", name, val, err->message);
        }
    }
    fdset_cmdline_close_originals();
}

static void open_monitors(Options *o)
{
    g_autoptr(GError) err = NULL;

    for (guint i = 0; i < o->qmp->len; i++) {
        if (!monitor_add_qmp(g_ptr_array_index(o->qmp, i), &err)) {
            die("-qmp %s: %s", (char *)g_ptr_array_index(o->qmp, i),
                err->message);
        }
    }
    for (guint i = 0; i < o->chardevs->len; i++) {
        if (!monitor_add_chardev(g_ptr_array_index(o->chardevs, i), &err)) {
            die("--chardev: %s", err->message);
        }
    }
    for (guint i = 0; i < o->monitors->len; i++) {
        if (!monitor_add_monitor(g_ptr_array_index(o->monitors, i), &err)) {
            die("--monitor: %s", err->message);
        }
    }
}

static void create_blockdevs(Options *o)
{
    g_autoptr(GError) err = NULL;

    for (guint i = 0; i < o->blockdevs->len; i++) {
        if (!bdrv_cmdline_blockdev(g_ptr_array_index(o->blockdevs, i),
                                   &err)) {
            die("--blockdev: %s", err->message);
        }
    }
}

/* --nbd-server, then --export (after the nodes and passed sockets). */
static void start_exports(Options *o)
{
    g_autoptr(GError) err = NULL;

    for (guint i = 0; i < o->nbd_servers->len; i++) {
        if (!blk_exp_cmdline_nbd_server(g_ptr_array_index(o->nbd_servers, i),
                                        &err)) {
            die("--nbd-server: %s", err->message);
        }
    }
    for (guint i = 0; i < o->exports->len; i++) {
        if (!blk_exp_cmdline_export(g_ptr_array_index(o->exports, i), &err)) {
            die("--export: %s", err->message);
        }
    }
}

static void write_pidfile(const char *path)
{
    g_autofree char *text = g_strdup_printf("%d\n", (int)getpid());
    g_autoptr(GError) err = NULL;

    if (!g_file_set_contents(path, text, -1, &err)) {
        die("--pidfile: %s", err->message);
    }
}

/*
 * Detach: fork, and let the parent wait until the child says it is ready
 * (sockets bound, pidfile written), so whoever ran us can connect at once.
 * Returns the pipe end the child reports readiness on.
 */
static int daemonize_start(void)
{
    int pipefd[2];
    pid_t pid;
    char byte;

    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        die("pipe: %s", g_strerror(errno));
    }
    pid = fork();
    if (pid < 0) {
        die("fork: %s", g_strerror(errno));
    }
    if (pid > 0) {
        close(pipefd[1]);
        /* A byte means ready; EOF means the child failed (it said why). */
        _exit(read(pipefd[0], &byte, 1) == 1 ? 0 : 1);
    }
    close(pipefd[0]);
    setsid();
    return pipefd[1];
}

/* Ready: stdio goes to /dev/null and the waiting parent may exit. */
static void daemonize_finish(int ready_fd)
{
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    if (null_fd < 0) {
        die("cannot open /dev/null: %s", g_strerror(errno));
    }
    dup2(null_fd, STDIN_FILENO);
    dup2(null_fd, STDOUT_FILENO);
    dup2(null_fd, STDERR_FILENO);
    close(null_fd);
    if (write(ready_fd, "r", 1) != 1) {
        _exit(1);
    }
    close(ready_fd);
}

/*
 * SIGTERM, SIGINT and SIGHUP end the daemon.  They are blocked from the
 * start (every thread inherits that) and read from a signalfd in the main
 * loop: GLib's signal sources would start a helper thread for them, which
 * costs start-up time and is one more thread to sandbox.
 */
static void block_exit_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* The signal that stopped the daemon, 0 for none (a quit command). */
static int stop_signal;

static gboolean on_signal(gint fd, GIOCondition cond, gpointer data)
{
    struct signalfd_siginfo si;

    while (read(fd, &si, sizeof(si)) == sizeof(si)) {
        stop_signal = stop_signal ? stop_signal : (int)si.ssi_signo;
        monitor_request_shutdown("host-signal");
    }
    return G_SOURCE_CONTINUE;
}

/* Watch the exit signals until unwatch_exit_signals(); @fd is owned by
 * the caller. */
static guint watch_exit_signals(const sigset_t *set, int *fd)
{
    *fd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (*fd < 0) {
        die("signalfd: %s", g_strerror(errno));
    }
    return g_unix_fd_add(*fd, G_IO_IN, on_signal, NULL);
}

static void unwatch_exit_signals(guint source, int fd)
{
    g_source_remove(source);
    close(fd);
}

/*
 * In sandbox mode the daemon may not remove names at exit.  A helper forked
 * before the sandbox closes, holding nothing but the read end of a pipe,
 * waits for end-of-file there (the daemon gone, however it ended) and then
 * removes the socket files and the pidfile.
 */
static void G_GNUC_NORETURN run_exit_cleaner(int pipe_fd, char **paths)
{
    char c;

    /* none of the daemon's fds (members, sockets, its stdio) stay here */
    if ((pipe_fd > 0 && close_range(0, pipe_fd - 1, 0) < 0) ||
        close_range(pipe_fd + 1, ~0U, 0) < 0) {
        _exit(1);
    }
    while (read(pipe_fd, &c, 1) < 0 && errno == EINTR) {
    }
    for (guint i = 0; paths[i]; i++) {
        unlink(paths[i]);
    }
    _exit(0);
}

/* Returns the write end of the helper's pipe, which the daemon keeps open
 * until it exits; -1 when there is nothing to remove. */
static int start_exit_cleaner(const char *pidfile)
{
    g_auto(GStrv) paths = monitor_socket_paths();
    int pipe_fds[2];
    pid_t pid;

    if (pidfile) {
        guint n = g_strv_length(paths);

        paths = g_renew(char *, paths, n + 2);
        paths[n] = g_strdup(pidfile);
        paths[n + 1] = NULL;
    }
    if (!paths[0]) {
        return -1;
    }
    if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
        die("pipe: %s", g_strerror(errno));
    }
    pid = fork();
    if (pid < 0) {
        die("fork: %s", g_strerror(errno));
    }
    if (pid == 0) {
        run_exit_cleaner(pipe_fds[0], paths);
    }
    close(pipe_fds[0]);
    return pipe_fds[1];
}

static void options_init(Options *o)
{
    o->qmp = g_ptr_array_new();
    o->chardevs = g_ptr_array_new();
    o->monitors = g_ptr_array_new();
    o->add_fds = g_ptr_array_new();
    o->blockdevs = g_ptr_array_new();
    o->nbd_servers = g_ptr_array_new();
    o->exports = g_ptr_array_new();
    fdset_get_limits(&o->fdset_limits);
    monitor_default_limits(&o->monitor_limits);
}

static void options_free(Options *o)
{
    g_ptr_array_unref(o->qmp);
    g_ptr_array_unref(o->chardevs);
    g_ptr_array_unref(o->monitors);
    g_ptr_array_unref(o->add_fds);
    g_ptr_array_unref(o->blockdevs);
    g_ptr_array_unref(o->nbd_servers);
    g_ptr_array_unref(o->exports);
    g_free(o->pidfile);
    g_free(o->audit);
}

static void start_audit(const char *path)
{
    g_autoptr(GError) err = NULL;

    if (path && !audit_open(path, &err)) {
        die("--audit: %s", err->message);
    }
}

/* Socket activation and sd_notify (fdsetd-service.h). */
static void service_start(void)
{
    g_autoptr(GError) err = NULL;

    if (!service_start_sockets(&err)) {
        die("%s", err->message);
    }
}

static void notify_stopping(void)
{
    g_autofree char *sig = NULL;

    if (stop_signal) {
        sig = g_strdup_printf("SIG%s", sigabbrev_np(stop_signal));
    }
    service_notify_stopping(sig ? sig : "quit command");
}

static void enter_sandbox(void)
{
    g_autoptr(GError) err = NULL;

    if (!sandbox_enter(&err)) {
        die("--sandbox: %s", err->message);
    }
    g_message("sandbox: %s", sandbox_describe());
}

int main(int argc, char **argv)
{
    Options o = { 0 };
    sigset_t exit_signals;
    guint signal_source;
    int signal_fd;
    int cleaner_fd = -1;
    int ready_fd = -1;
    g_autoptr(GError) err = NULL;

    prog_name = g_path_get_basename(argv[0]);
    /* The main thread owns the main context for good: events sent outside
     * an iteration (start-up, shutdown) are delivered at once. */
    g_main_context_acquire(NULL);
    block_exit_signals(&exit_signals);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    fdset_init();
    if (!service_init(&err)) {
        die("%s", err->message);
    }
    options_init(&o);
    parse_args(&o, argc, argv);
    fdset_set_limits(&o.fdset_limits);
    start_audit(o.audit);
    take_cmdline_fds(&o);
    monitor_init(&o.monitor_limits, o.persistent_fds, o.fdset_events);
    open_monitors(&o);
    bdrv_init();
    create_blockdevs(&o);
    service_start();
    start_exports(&o);
    if (o.daemonize) {
        ready_fd = daemonize_start();
    }
    if (o.pidfile) {
        write_pidfile(o.pidfile);
    }
    monitor_start();
    if (ready_fd >= 0) {
        daemonize_finish(ready_fd);
    }
    signal_source = watch_exit_signals(&exit_signals, &signal_fd);
    if (o.sandbox) {
        cleaner_fd = start_exit_cleaner(o.pidfile);
        enter_sandbox();
    }
    service_notify_ready(o.qmp->len + o.monitors->len +
                         service_qmp_socket_count(),
                         o.sandbox ? sandbox_describe() : NULL, o.daemonize);
    while (!monitor_quit_requested()) {
        g_main_context_iteration(NULL, TRUE);
    }
    notify_stopping();
    /* Jobs and nodes first (their dups go), then the fdsets, while the
     * monitors are still there to hear the events. */
    blk_exp_shutdown();
    bdrv_close_all();
    fdset_shutdown();
    monitor_cleanup();
    unwatch_exit_signals(signal_source, signal_fd);
    audit_close();
    if (o.pidfile && cleaner_fd < 0) {
        unlink(o.pidfile);
    }
    if (cleaner_fd >= 0) {
        close(cleaner_fd); /* the helper removes the names now */
    }
    service_cleanup();
    options_free(&o);
    return 0;
}
