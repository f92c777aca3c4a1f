package io.stellane.server;

import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameTypes;
import io.stellane.task.Task;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Known HTTP/2 attacks, each from one connection: that connection is ended within a bounded time and
 * the limit it ran into is counted, while an HTTP/2 and an HTTP/1.1 connection opened before it are
 * served during the attack and after it.
 */
class Http2AttackTest extends ServerTestBase {
    private static final int END_STREAM = 0x1;
    /** {@code :method GET}, {@code :path /}, {@code :scheme http}: static-table entries, no dynamic-table state. */
    private static final byte[] SMALL_BLOCK = {(byte) 0x82, (byte) 0x84, (byte) 0x86};

    @Override
    String backend() {
        return "nio";
    }

    private static void routes(Server s) {
        s.get("/n/{n}", cx -> Task.completed(Response.text("stream " + cx.param("n"))));
        // answered a moment later: its stream is still half closed when what the client sends after arrives
        s.get("/later", cx -> Task.blocking(() -> {
            Thread.sleep(200);
            return Response.text("later");
        }));
    }

    /** What an attack does on its connection; it returns once it has sent all it means to. */
    private interface Attack {
        void run(H2RawClient attacker) throws IOException;
    }

    /**
     * Connects an HTTP/2 and an HTTP/1.1 client, then runs {@code attack} from a third connection on a
     * thread of its own, serving both bystanders while it runs and again once the server has closed the
     * attacking connection, which must happen within a minute. Returns the GOAWAY error code the attacker
     * read, or -1.
     */
    private long underAttack(int port, int receiveBuffer, Attack attack) throws Exception {
        try (H2RawClient h2 = new H2RawClient(port); RawClient h1 = new RawClient(port);
             H2RawClient attacker = new H2RawClient(port, receiveBuffer)) {
            AtomicInteger n = new AtomicInteger();
            Runnable served = () -> {
                int i = n.incrementAndGet();
                try {
                    assertThat(h2.request("GET", "/n/" + i, null).body.toString()).isEqualTo("stream " + i);
                    RawClient.Resp r = h1.send("GET /n/" + i + " HTTP/1.1\r\nHost: x\r\n\r\n").read();
                    assertThat(r.status()).isEqualTo(200);
                    assertThat(r.body()).isEqualTo("stream " + i);
                } catch (IOException e) {
                    throw new AssertionError("a bystander was not served", e);
                }
            };
            served.run();
            FutureTask<Void> attacking = new FutureTask<>(() -> {
                attack.run(attacker);
                attacker.readUntil(() -> false); // until the server closes, or ten seconds of silence
                return null;
            });
            Thread.ofVirtual().start(attacking);
            for (int i = 0; i < 3 && !attacking.isDone(); i++) {
                served.run();
            }
            attacking.get(1, TimeUnit.MINUTES);
            assertThat(attacker.closed).as("the server closed the attacking connection").isTrue();
            served.run();
            assertThat(h2.goAway).isEqualTo(-1);
            return attacker.goAway;
        }
    }

    /** Sends {@code batch} frames at a time until the server stops taking them, or {@code batches} were sent. */
    private static void flood(H2RawClient c, int batches, int batch, Runnable frame) {
        for (int i = 0; i < batches; i++) {
            for (int j = 0; j < batch; j++) {
                frame.run();
            }
            try {
                c.send();
            } catch (IOException closedByTheServer) {
                return;
            }
        }
    }

    @ParameterizedTest(name = "{0}-byte frames")
    @ValueSource(ints = {0, 1})
    void aFloodOfTinyContinuationFramesIsAnsweredWithGoAwayAndCounted(int size) throws Exception {
        int port = start(Http2AttackTest::routes);
        byte[] tiny = new byte[size];
        Arrays.fill(tiny, (byte) 0x82); // an indexed field: the block stays valid HPACK
        long goAway = underAttack(port, 0, c -> {
            c.frame(Http2FrameTypes.HEADERS, END_STREAM, 1, SMALL_BLOCK);
            flood(c, 10, 1_000, () -> c.frame(Http2FrameTypes.CONTINUATION, 0, 1, tiny));
        });
        assertThat(goAway).isEqualTo(Http2Error.ENHANCE_YOUR_CALM.code());
        assertThat(lastServer().limitCount(ServerLimit.HTTP2_FLOOD)).isEqualTo(1);
        assertThat(lastServer().errorCount()).isZero();
    }

    @Test
    void aHeaderBlockGrowingInContinuationFramesPastTheHeaderListLimitIsAnsweredWithGoAway() throws Exception {
        int port = start(Http2AttackTest::routes);
        long goAway = underAttack(port, 0, c -> {
            c.frame(Http2FrameTypes.HEADERS, END_STREAM, 1, SMALL_BLOCK);
            // 8 KiB each: not the small frames the flood counter counts, so only the block's size stops it
            flood(c, 1_000, 1, () -> c.frame(Http2FrameTypes.CONTINUATION, 0, 1, new byte[8 * 1024]));
        });
        assertThat(goAway).isEqualTo(Http2Error.PROTOCOL_ERROR.code());
        assertThat(lastServer().errorCount()).isZero();
    }

    // Netty closes such a connection with its GOAWAY queued behind the acks the client never read, so the
    // client sees the connection end, not the GOAWAY. Thousands of frames go into socket buffers first.
    @Test
    void aPingFloodFromAClientThatReadsNoAcksEndsItsConnectionAndIsCounted() throws Exception {
        int port = start(Http2AttackTest::routes);
        underAttack(port, 4096, c -> flood(c, 2_000, 1_000, () -> c.ping(42)));
        assertThat(lastServer().limitCount(ServerLimit.HTTP2_FLOOD)).isEqualTo(1);
    }

    @Test
    void aSettingsFloodFromAClientThatReadsNoAcksEndsItsConnectionAndIsCounted() throws Exception {
        int port = start(Http2AttackTest::routes);
        underAttack(port, 4096, c -> flood(c, 2_000, 1_000, c::settings));
        assertThat(lastServer().limitCount(ServerLimit.HTTP2_FLOOD)).isEqualTo(1);
    }

    @Test
    void dataAfterTheEndOfAStreamResetsThatStreamOnlyAndTheConnectionGoesOn() throws Exception {
        int port = start(Http2AttackTest::routes);
        try (H2RawClient c = new H2RawClient(port)) {
            int id = c.start("GET", "/later", true);
            c.data(id, "x", false); // the stream is half closed: a stream error, which the server answers
            c.send();
            c.readUntil(() -> c.reply(id).finished());
            assertThat(c.reply(id).reset).isEqualTo(Http2Error.STREAM_CLOSED.code());
            assertThat(c.request("GET", "/n/7", null).body.toString()).isEqualTo("stream 7");
            assertThat(c.goAway).isEqualTo(-1);
        }
        assertThat(lastServer().errorCount()).isZero();
    }

    @Test
    void aClientMakingTheServerResetStreamAfterStreamIsAnsweredWithGoAwayAndCounted() throws Exception {
        int port = start(Http2AttackTest::routes);
        long goAway = underAttack(port, 0, c -> {
            for (int i = 0; i < 300; i++) {
                int id = c.start("GET", "/n/" + i, true);
                c.data(id, "x", false); // DATA after the stream's end: the server must reset it
            }
            try {
                c.send();
            } catch (IOException closedByTheServer) {
                // what it sent before is still read
            }
        });
        assertThat(goAway).isEqualTo(Http2Error.ENHANCE_YOUR_CALM.code());
        assertThat(lastServer().limitCount(ServerLimit.HTTP2_FLOOD)).isEqualTo(1);
        assertThat(lastServer().limitCount(ServerLimit.HTTP2_RESETS)).isZero();
    }

    @Test
    void aHeaderListOverMaxHeaderSizeIsRefused431OnItsStreamAndTheConnectionGoesOn() throws Exception {
        int port = start(ServerConfig.builder().maxHeaderSize(4 * 1024).build(), Http2AttackTest::routes);
        String big = "a".repeat(5 * 1024); // over the limit decoded, under 1.25 times it as sent (HPACK's Huffman code)
        try (H2RawClient c = new H2RawClient(port)) {
            int id = c.start("GET", "/n/1", true, "x-big", big);
            c.send();
            c.readUntil(() -> c.reply(id).finished());
            assertThat(c.reply(id).status).isEqualTo(431);
            assertThat(c.request("GET", "/n/2", null).body.toString()).isEqualTo("stream 2");
            assertThat(c.goAway).isEqualTo(-1);
        }
        try (RawClient h1 = new RawClient(port)) {
            assertThat(h1.send("GET /n/3 HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n").read().status()).isEqualTo(431);
        }
        assertThat(lastServer().errorCount()).isZero();
    }
}
