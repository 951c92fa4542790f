/* c-health: a tiny HTTP service in C. GET /health -> "ok", anything else 404.
 * Flags: --port N, --version. Exits cleanly on SIGTERM. Built with gcc -static. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef BINSHIP_VERSION
#define BINSHIP_VERSION "dev"
#endif
#ifndef BINSHIP_COMMIT
#define BINSHIP_COMMIT "unknown"
#endif

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static void reply(int fd) {
    char buf[2048];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return;
    buf[n] = 0;
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
    const char *nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const char *r = strncmp(buf, "GET /health ", 12) == 0 ? ok : nf;
    (void)!write(fd, r, strlen(r));
}

int main(int argc, char **argv) {
    int port = 7003;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--version")) {
            printf("c-health %s (commit %s)\n", BINSHIP_VERSION, BINSHIP_COMMIT);
            return 0;
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: c-health [--port N] [--version]\n");
            return 2;
        }
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_term; /* no SA_RESTART: accept() returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) {
        perror("listen");
        return 1;
    }
    fprintf(stderr, "c-health listening on :%d\n", port);
    while (!stop) {
        int c = accept(s, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR) continue;
            perror("accept");
            return 1;
        }
        reply(c);
        close(c);
    }
    close(s);
    fprintf(stderr, "c-health stopped\n");
    return 0;
}
