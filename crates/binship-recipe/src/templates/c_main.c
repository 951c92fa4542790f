/* __NAME__: a minimal HTTP service made by `binship init --template c-http`.
 * GET /health answers "ok"; --port sets the port; --version prints the version binship passes
 * as -DBINSHIP_VERSION; SIGTERM ends the accept loop and the process exits 0. */
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

int main(int argc, char **argv) {
  int port = 8080;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--version")) {
      printf("__NAME__ %s (commit %s)\n", BINSHIP_VERSION, BINSHIP_COMMIT);
      return 0;
    } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else {
      fprintf(stderr, "unknown argument %s (use --port N or --version)\n", argv[i]);
      return 2;
    }
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term; /* no SA_RESTART: accept() returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) {
    perror("listen");
    return 1;
  }
  while (!stop) {
    int c = accept(s, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR) continue;
      continue;
    }
    char buf[1024];
    ssize_t n = read(c, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    const char *r = strncmp(buf, "GET /health", 11) == 0
        ? "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
        : "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n";
    (void)!write(c, r, strlen(r));
    close(c);
  }
  close(s);
  return 0;
}
