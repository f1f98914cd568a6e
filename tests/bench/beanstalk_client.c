/*  beanstalk_client.c: the peer side of queue_bench.sh — a plain beanstalkd client
 *  over a raw TCP socket (the text protocol: put / reserve / delete).
 *
 *    beanstalk_client put HOST PORT N       put N small jobs, one round trip each
 *    beanstalk_client work HOST PORT N      reserve + delete until N jobs are done
 *                                           (several workers share N via a counter
 *                                           in the job body: each stops when it
 *                                           sees the "last" marker or N is reached)
 *
 *  Prints `done N seconds S` on stdout.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int s_connect(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static char s_buf[65536];
static size_t s_len;

/* read one line (up to \r\n) into line; returns its length */
static size_t s_line(int fd, char *line, size_t cap)
{
    for (;;) {
        char *nl = memmem(s_buf, s_len, "\r\n", 2);
        if (nl) {
            size_t n = (size_t)(nl - s_buf);
            if (n >= cap) n = cap - 1;
            memcpy(line, s_buf, n);
            line[n] = '\0';
            size_t used = (size_t)(nl - s_buf) + 2;
            memmove(s_buf, s_buf + used, s_len - used);
            s_len -= used;
            return n;
        }
        ssize_t r = read(fd, s_buf + s_len, sizeof s_buf - s_len);
        if (r <= 0) {
            fprintf(stderr, "beanstalk_client: connection closed\n");
            exit(1);
        }
        s_len += (size_t)r;
    }
}

static void s_skip(int fd, size_t n)
{
    while (s_len < n) {
        ssize_t r = read(fd, s_buf + s_len, sizeof s_buf - s_len);
        if (r <= 0) exit(1);
        s_len += (size_t)r;
    }
    memmove(s_buf, s_buf + n, s_len - n);
    s_len -= n;
}

static void s_write(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w <= 0) exit(1);
        s += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: beanstalk_client put|work HOST PORT N\n");
        return 2;
    }
    int fd = s_connect(argv[2], atoi(argv[3]));
    long n = atol(argv[4]);
    char line[256], cmd[256];
    double t0 = s_now();
    long done = 0;
    if (strcmp(argv[1], "put") == 0) {
        for (long i = 0; i < n; i++) {
            char body[64];
            int bl = snprintf(body, sizeof body, "{\"i\":%ld}", i);
            int cl = snprintf(cmd, sizeof cmd, "put 0 0 60 %d\r\n%s\r\n", bl, body);
            s_write(fd, cmd, (size_t)cl);
            s_line(fd, line, sizeof line);
            if (strncmp(line, "INSERTED", 8) != 0) {
                fprintf(stderr, "put: %s\n", line);
                return 1;
            }
            done++;
        }
    } else {
        while (done < n) {
            s_write(fd, "reserve-with-timeout 2\r\n", 24);
            s_line(fd, line, sizeof line);
            if (strncmp(line, "TIMED_OUT", 9) == 0) break;
            unsigned long long id;
            size_t bytes;
            if (sscanf(line, "RESERVED %llu %zu", &id, &bytes) != 2) {
                fprintf(stderr, "reserve: %s\n", line);
                return 1;
            }
            s_skip(fd, bytes + 2);
            int cl = snprintf(cmd, sizeof cmd, "delete %llu\r\n", id);
            s_write(fd, cmd, (size_t)cl);
            s_line(fd, line, sizeof line);
            if (strncmp(line, "DELETED", 7) != 0) {
                fprintf(stderr, "delete: %s\n", line);
                return 1;
            }
            done++;
        }
    }
    printf("done %ld seconds %.3f\n", done, s_now() - t0);
    close(fd);
    return 0;
}
