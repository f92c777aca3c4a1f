package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The HTTP/1.1 connection on Netty's {@link EmbeddedChannel}: bytes in, bytes out, no socket and no
 * runtime. What it owns is the protocol: framing, keep-alive, pipelining order, HEAD, 100-continue,
 * refusals, and answers that arrive later.
 */
class Http1ConnectionTest {
    private EmbeddedChannel channel;

    @AfterEach
    void close() {
        if (channel != null) {
            channel.finishAndReleaseAll();
        }
    }

    private EmbeddedChannel open(Server server) {
        ServerConfig c = server.config();
        Http1Connection conn = new Http1Connection(server, null, false);
        HttpDecoderConfig decoder = new HttpDecoderConfig().setMaxInitialLineLength(c.maxRequestLineLength())
                .setMaxHeaderSize(c.maxHeaderSize());
        channel = new EmbeddedChannel(new RequestDecoder(decoder, conn), new HttpResponseEncoder(), conn);
        return channel;
    }

    private static void send(EmbeddedChannel ch, String bytes) {
        ch.writeInbound(Unpooled.copiedBuffer(bytes, StandardCharsets.US_ASCII));
    }

    /** Everything the connection wrote so far, as text. */
    private static String written(EmbeddedChannel ch) {
        StringBuilder sb = new StringBuilder();
        for (Object o; (o = ch.readOutbound()) != null; ) {
            ByteBuf b = (ByteBuf) o;
            sb.append(b.toString(StandardCharsets.US_ASCII));
            b.release();
        }
        return sb.toString();
    }

    private static Server echoServer() {
        return new Server()
                .get("/hello", ctx -> Task.completed(Response.text("hello")))
                .post("/echo", ctx -> Task.completed(Response.text(ctx.request().bodyString())));
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrderOnAKeptAliveConnection() {
        EmbeddedChannel ch = open(echoServer());
        send(ch, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                + "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
        String out = written(ch);
        assertThat(out).startsWith("HTTP/1.1 200 OK\r\n");
        assertThat(out.indexOf("hello")).isLessThan(out.indexOf("abc"));
        assertThat(out.indexOf("abc")).isLessThan(out.indexOf("HTTP/1.1 404"));
        assertThat(out).contains("content-length: 5\r\n").doesNotContain("connection: close");
        assertThat(ch.isOpen()).isTrue();
    }

    @Test
    void aHeadRequestGetsTheHeadersOfTheBodyAndNoBody() {
        EmbeddedChannel ch = open(echoServer());
        send(ch, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        String out = written(ch);
        assertThat(out).startsWith("HTTP/1.1 200 OK\r\n").contains("content-length: 5\r\n").endsWith("\r\n\r\n");
    }

    @Test
    void http10ClosesUnlessAskedToKeepAlive() {
        EmbeddedChannel ch = open(echoServer());
        send(ch, "GET /hello HTTP/1.0\r\n\r\n");
        assertThat(written(ch)).contains("connection: close");
        assertThat(ch.isOpen()).isFalse();
    }

    @Test
    void expectContinueIsAnsweredBeforeTheBodyIsSent() {
        EmbeddedChannel ch = open(echoServer());
        send(ch, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
        assertThat(written(ch)).isEqualTo("HTTP/1.1 100 Continue\r\n\r\n");
        send(ch, "ok");
        assertThat(written(ch)).startsWith("HTTP/1.1 200 OK\r\n").endsWith("\r\n\r\nok");
    }

    @Test
    void aMalformedRequestIsRefusedWith400AndTheConnectionCloses() {
        EmbeddedChannel ch = open(echoServer());
        send(ch, "GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        String out = written(ch);
        assertThat(out).startsWith("HTTP/1.1 400 ").contains("connection: close");
        assertThat(ch.isOpen()).isFalse();
    }

    @Test
    void aBodyOverTheLimitIs413BeforeAnyOfItIsRead() {
        EmbeddedChannel ch = open(new Server(ServerConfig.builder().maxBodySize(4).build())
                .post("/echo", ctx -> Task.completed(Response.ok())));
        send(ch, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n");
        assertThat(written(ch)).startsWith("HTTP/1.1 413 ");
    }

    @Test
    void aRequestWaitsWhileTheOneBeforeItIsAnsweredLater() {
        CompletableFuture<String> later = new CompletableFuture<>();
        EmbeddedChannel ch = open(new Server()
                .get("/later", ctx -> Task.from(later).map(Response::text))
                .get("/now", ctx -> Task.completed(Response.text("now"))));
        send(ch, "GET /later HTTP/1.1\r\nHost: x\r\n\r\nGET /now HTTP/1.1\r\nHost: x\r\n\r\n");
        assertThat(written(ch)).as("nothing before the first answer").isEmpty();
        later.complete("later");
        ch.runPendingTasks();
        String out = written(ch);
        assertThat(out.indexOf("later")).isPositive();
        assertThat(out.indexOf("later")).isLessThan(out.indexOf("now"));
    }
}
