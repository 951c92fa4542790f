/* binship-probe: the health probe an image can carry (docker's HEALTHCHECK exit statuses:
 * 0 healthy, 1 unhealthy; 2 usage).
 *   binship-probe http://HOST:PORT/PATH   healthy when GET PATH answers 2xx
 *   binship-probe tcp://HOST:PORT         healthy when a TCP connect succeeds
 * HOST is an IPv4 literal, a bracketed IPv6 literal or localhost (no DNS); 3 s in all.
 * Built by binship with gcc -static -Os -s; no stdio, so the static binary stays small. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void timed_out(int sig) {
  static const char m[] = "binship-probe: no answer within 3 s\n";
  (void)sig;
  (void)!write(2, m, sizeof m - 1);
  _exit(1);
}

/* Writes "binship-probe: " and the strings to stderr, then a newline (no stdio: the probe
 * stays small). */
static void say(const char *a, const char *b, const char *c, const char *d) {
  const char *parts[] = {"binship-probe: ", a, b, c, d, "\n"};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    if (parts[i]) (void)!write(2, parts[i], strlen(parts[i]));
}

static int usage(const char *why) {
  say(why, "; usage: binship-probe http://HOST:PORT/PATH | tcp://HOST:PORT", NULL, NULL);
  return 2;
}

/* dst = the concatenation of the parts, NULL-terminated; 0 when it does not fit. */
static int join(char *dst, size_t cap, const char *const *parts) {
  size_t n = 0;
  for (; *parts; parts++) {
    size_t l = strlen(*parts);
    if (n + l >= cap) return 0;
    memcpy(dst + n, *parts, l);
    n += l;
  }
  dst[n] = 0;
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2) return usage("one URL expected");
  const char *u = argv[1];
  int http;
  if (!strncmp(u, "http://", 7)) { http = 1; u += 7; }
  else if (!strncmp(u, "tcp://", 6)) { http = 0; u += 6; }
  else return usage("the URL must start with http:// or tcp://");
  const char *slash = strchr(u, '/');
  const char *path = slash ? slash : "/";
  size_t hl = slash ? (size_t)(slash - u) : strlen(u);
  char host[80];
  if (hl == 0 || hl >= sizeof host) return usage("no HOST:PORT");
  memcpy(host, u, hl);
  host[hl] = 0;
  char *colon = strrchr(host, ':');
  if (!colon) return usage("no :PORT");
  *colon = 0;
  const char *port_text = colon + 1;
  char *end;
  long port = strtol(port_text, &end, 10);
  if (*end || port < 1 || port > 65535) return usage("PORT must be 1-65535");
  char *h = host;
  size_t l = strlen(h);
  if (l >= 2 && h[0] == '[' && h[l - 1] == ']') { h[l - 1] = 0; h++; }
  if (!strcmp(h, "localhost")) h = "127.0.0.1";
  struct sockaddr_in a4 = {0};
  struct sockaddr_in6 a6 = {0};
  struct sockaddr *sa;
  socklen_t sl;
  int family;
  if (inet_pton(AF_INET, h, &a4.sin_addr) == 1) {
    a4.sin_family = AF_INET; a4.sin_port = htons((unsigned short)port);
    sa = (struct sockaddr *)&a4; sl = sizeof a4; family = AF_INET;
  } else if (inet_pton(AF_INET6, h, &a6.sin6_addr) == 1) {
    a6.sin6_family = AF_INET6; a6.sin6_port = htons((unsigned short)port);
    sa = (struct sockaddr *)&a6; sl = sizeof a6; family = AF_INET6;
  } else {
    return usage("HOST must be an IP literal or localhost");
  }
  signal(SIGALRM, timed_out);
  alarm(3);
  int s = socket(family, SOCK_STREAM, 0);
  if (s < 0 || connect(s, sa, sl) != 0) {
    say("connect ", h, ":", port_text);
    return 1;
  }
  if (!http) return 0;
  char req[1024];
  const char *const parts[] = {"GET ", path, " HTTP/1.0\r\nHost: ", h, ":", port_text,
                               "\r\nUser-Agent: binship-probe\r\nConnection: close\r\n\r\n", NULL};
  if (!join(req, sizeof req, parts)) return usage("PATH too long");
  size_t n = strlen(req);
  if (write(s, req, n) != (ssize_t)n) {
    say("writing to ", h, ":", port_text);
    return 1;
  }
  char buf[256];
  size_t got = 0;
  ssize_t r;
  while (got < sizeof buf - 1 && (r = read(s, buf + got, sizeof buf - 1 - got)) > 0) {
    got += (size_t)r;
    buf[got] = 0;
    if (strchr(buf, '\n')) break;
  }
  buf[got] = 0;
  /* "HTTP/1.x NNN ...": the status is the word after the first space. */
  char *sp = strncmp(buf, "HTTP/", 5) ? NULL : strchr(buf, ' ');
  if (!sp || sp[1] < '1' || sp[1] > '5' || sp[2] < '0' || sp[2] > '9' || sp[3] < '0' || sp[3] > '9') {
    say("GET ", path, ": no HTTP status line", NULL);
    return 1;
  }
  if (sp[1] != '2') {
    char code[4] = {sp[1], sp[2], sp[3], 0};
    say("GET ", path, " answered ", code);
    return 1;
  }
  return 0;
}
