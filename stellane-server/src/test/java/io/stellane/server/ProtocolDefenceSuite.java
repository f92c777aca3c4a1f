package io.stellane.server;

import io.stellane.task.Task;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Request smuggling and malformed input: each case gets a 4xx, a closed connection, no echo of the
 * request bytes, and the worker keeps serving others. Subclassed per backend.
 */
abstract class ProtocolDefenceSuite extends ServerTestBase {
    private int port;

    @BeforeEach
    void startServer() {
        port = start(ServerConfig.builder().maxRequestLineLength(256).maxHeaderSize(1024).maxHeaderCount(20)
                .maxBodySize(64).headerReadTimeout(Duration.ofMillis(300)).build(), s -> {
            s.get("/ok", ctx -> Task.completed(Response.text("ok")));
            s.post("/echo", ctx -> Task.completed(Response.ok(ctx.request().body(), "text/plain")));
        });
    }

    private RawClient.Resp refused(String request, int status) throws IOException {
        RawClient.Resp r;
        try (RawClient c = new RawClient(port)) {
            r = c.send(request).read();
            assertThat(r.status()).isEqualTo(status);
            assertThat(r.header("connection")).isEqualToIgnoringCase("close");
            assertThat(c.closedByServer()).as("connection closed").isTrue();
        }
        assertStillServes(port);
        return r;
    }

    @Test
    void contentLengthWithTransferEncodingIsRefused() throws IOException {
        refused("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    }

    @Test
    void duplicateContentLengthIsRefused() throws IOException {
        refused("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 400);
    }

    @Test
    void conflictingContentLengthIsRefused() throws IOException {
        refused("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 3\r\n\r\nabc", 400);
    }

    @Test
    void signedContentLengthIsRefused() throws IOException {
        refused("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\nab", 400);
    }

    @Test
    void nonNumericContentLengthIsRefused() throws IOException {
        refused("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\nab", 400);
    }

    @Test
    void unknownTransferCodingIsRefused() throws IOException {
        RawClient.Resp r = refused("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400);
        assertThat(r.body()).contains("transfer coding");
    }

    @Test
    void transferCodingWithoutFinalChunkedIsRefused() throws IOException {
        refused("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400);
    }

    @Test
    void transferEncodingInHttp10IsRefused() throws IOException {
        refused("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    }

    @Test
    void malformedChunkSizeIsRefused() throws IOException {
        refused("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400);
    }

    @Test
    void obsFoldIsRefused() throws IOException {
        RawClient.Resp r = refused("GET /ok HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n  continued\r\n\r\n", 400);
        assertThat(r.body()).contains("folding");
    }

    @Test
    void obsFoldIsFoundAtEveryOffsetAndAFoldFreeHeadIsNot() throws IOException {
        // the scan reads eight bytes at a time: put the fold at every position within a word
        for (int pad = 0; pad < 9; pad++) {
            String name = "X-" + "p".repeat(pad);
            refused("GET /ok HTTP/1.1\r\nHost: x\r\n" + name + ": a\r\n continued\r\n\r\n", 400);
            refused("GET /ok HTTP/1.1\r\nHost: x\r\n" + name + ": a\n\tcontinued\n\n", 400);
        }
        try (RawClient c = new RawClient(port)) {
            // spaces and tabs inside values, and a body with a line feed and a space: none is a fold
            String body = "a\n b";
            RawClient.Resp r = c.send("POST /echo HTTP/1.1\r\nHost: x\r\nX-A: one two\tthree\r\n"
                    + "Content-Type: text/plain\r\nContent-Length: " + body.length() + "\r\n\r\n" + body).read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).isEqualTo(body);
        }
    }

    @Test
    void obsFoldArrivingInALaterPacketIsRefused() throws IOException, InterruptedException {
        try (RawClient c = new RawClient(port)) {
            c.send("GET /ok HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n");
            // the first part is consumed line by line before the fold arrives; no sleep: the decoder
            // sees the two writes either together or apart, and must refuse both ways
            RawClient.Resp r = c.send("\tcontinued\r\n\r\n").read();
            assertThat(r.status()).isEqualTo(400);
            assertThat(r.body()).contains("folding");
            assertThat(c.closedByServer()).isTrue();
        }
        assertStillServes(port);
    }

    @Test
    void whitespaceBeforeColonIsRefused() throws IOException {
        refused("GET /ok HTTP/1.1\r\nHost : x\r\n\r\n", 400);
    }

    @Test
    void controlCharacterInFieldValueIsRefused() throws IOException {
        refused("GET /ok HTTP/1.1\r\nHost: x\r\nX-A: a\u0001b\r\n\r\n", 400);
    }

    @Test
    void controlCharacterInFieldNameIsRefused() throws IOException {
        refused("GET /ok HTTP/1.1\r\nHost: x\r\nX-\u0007A: b\r\n\r\n", 400);
    }

    @Test
    void bareLineFeedIsRefused() throws IOException {
        refused("GET /ok HTTP/1.1\nHost: x\n\n", 400);
    }

    @Test
    void missingHostOnHttp11IsRefused() throws IOException {
        RawClient.Resp r = refused("GET /ok HTTP/1.1\r\nAccept: */*\r\n\r\n", 400);
        assertThat(r.body()).contains("Host");
    }

    @Test
    void duplicateHostIsRefused() throws IOException {
        refused("GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    }

    @Test
    void asteriskFormIsOnlyForOptions() throws IOException {
        refused("GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    }

    @Test
    void authorityFormIsOnlyForConnect() throws IOException {
        refused("GET example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 400);
    }

    @Test
    void connectIsRefusedWithoutA500() throws IOException {
        RawClient.Resp r = refused("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405);
        assertThat(r.header("allow")).contains("GET");
    }

    @Test
    void garbageRequestLineIsRefused() throws IOException {
        refused("\u0000\u0001GARBAGE\r\n\r\n", 400);
    }

    @Test
    void tooLongRequestLineIs414() throws IOException {
        refused("GET /" + "a".repeat(400) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414);
    }

    @Test
    void tooLargeHeaderSectionIs431() throws IOException {
        refused("GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + "b".repeat(2000) + "\r\n\r\n", 431);
    }

    @Test
    void tooManyHeadersIs431() throws IOException {
        StringBuilder sb = new StringBuilder("GET /ok HTTP/1.1\r\nHost: x\r\n");
        for (int i = 0; i < 25; i++) {
            sb.append("X-H").append(i).append(": v\r\n");
        }
        refused(sb.append("\r\n").toString(), 431);
    }

    @Test
    void declaredBodyOverTheLimitIs413() throws IOException {
        refused("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n", 413);
    }

    @Test
    void chunkedBodyOverTheLimitIs413() throws IOException {
        String chunk = "a".repeat(40);
        refused("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n28\r\n" + chunk + "\r\n28\r\n" + chunk
                + "\r\n0\r\n\r\n", 413);
    }

    @Test
    void unfinishedHeadIsCutOffWith408() throws IOException {
        refused("GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: ", 408);
    }

    @Test
    void errorResponsesDoNotReflectRequestBytes() throws IOException {
        RawClient.Resp r = refused("GET /<script>alert(1)</script> HTTP/1.1\r\nHost: <script>\r\nX-A: \u0001<script>\r\n\r\n", 400);
        assertThat(r.body()).doesNotContain("<script>").doesNotContain("alert");
        try (RawClient c = new RawClient(port)) {
            RawClient.Resp nf = c.send("GET /<script>alert(1)</script> HTTP/1.1\r\nHost: x\r\n\r\n").read();
            assertThat(nf.status()).isEqualTo(404);
            assertThat(nf.body()).doesNotContain("<script>").doesNotContain("alert");
        }
    }
}
