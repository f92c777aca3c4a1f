package io.stellane.benchmarks.peer;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2ChannelDuplexHandler;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2FrameStream;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.util.ReferenceCountUtil;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The HTTP/2 peer answers what {@code bench/h2-bench.sh} asks of it, seen by Netty's own HTTP/2 client
 * over an in-memory connection: h2c with prior knowledge, many streams at once, bodies that need their
 * flow-control window back.
 */
class NettyH2PeerTest {
    private final EmbeddedChannel server = new EmbeddedChannel();
    private final Client client = new Client();
    private final EmbeddedChannel clientChannel = new EmbeddedChannel(Http2FrameCodecBuilder.forClient().build(), client);

    NettyH2PeerTest() {
        NettyH2Peer.initChannel(server);
        server.pipeline().fireChannelActive();
        shuttle();
    }

    @AfterEach
    void close() {
        client.frames.values().forEach(l -> l.forEach(ReferenceCountUtil::release));
        clientChannel.finishAndReleaseAll();
        server.finishAndReleaseAll();
    }

    @Test
    void plaintextIsHelloWorldWithTheHeadersOfTheHttp1Peer() {
        Http2FrameStream stream = get("/plaintext");
        shuttle();
        List<Object> frames = client.frames.get(stream.id());
        assertThat(frames).hasSize(2);
        Http2HeadersFrame head = (Http2HeadersFrame) frames.get(0);
        assertThat(head.isEndStream()).isFalse();
        Http2Headers h = head.headers();
        assertThat(h.status()).hasToString("200");
        assertThat(h.get("content-type")).hasToString("text/plain");
        assertThat(h.get("content-length")).hasToString("13");
        assertThat(h.get("server")).hasToString("Netty");
        assertThat(h.get("date")).hasToString(NettyPeer.date.toString()).endsWith(" GMT");
        Http2DataFrame data = (Http2DataFrame) frames.get(1);
        assertThat(data.isEndStream()).isTrue();
        assertThat(data.content().toString(StandardCharsets.US_ASCII)).isEqualTo("Hello, World!");
    }

    @Test
    void anyOtherPathIsNotFoundWithNoBody() {
        Http2FrameStream stream = get("/json");
        shuttle();
        List<Object> frames = client.frames.get(stream.id());
        assertThat(frames).hasSize(1);
        Http2HeadersFrame head = (Http2HeadersFrame) frames.get(0);
        assertThat(head.headers().status()).hasToString("404");
        assertThat(head.headers().get("content-length")).hasToString("0");
        assertThat(head.isEndStream()).isTrue();
    }

    @Test
    void advertisesStellanesStreamCapAndAnswersAHundredStreamsAtOnce() {
        assertThat(client.settings.maxConcurrentStreams()).isEqualTo((long) NettyH2Peer.MAX_CONCURRENT_STREAMS);
        List<Http2FrameStream> streams = new ArrayList<>();
        for (int i = 0; i < NettyH2Peer.MAX_CONCURRENT_STREAMS; i++) {
            streams.add(get("/plaintext"));
        }
        shuttle();
        for (Http2FrameStream s : streams) {
            assertThat(client.frames.get(s.id())).as("stream " + s.id()).hasSize(2);
        }
        assertThat(clientChannel.isOpen()).isTrue();
    }

    @Test
    void aBodyLargerThanTheWindowIsReadToItsEnd() {
        // 65,535 bytes is the initial window of the stream and of the connection: without its bytes given
        // back, the client could send no more than that
        Http2FrameStream stream = client.newStream();
        Http2Headers headers = new DefaultHttp2Headers().method("POST").scheme("http").authority("peer").path("/plaintext");
        clientChannel.writeAndFlush(new DefaultHttp2HeadersFrame(headers, false).stream(stream));
        List<ChannelFuture> sent = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            ByteBuf chunk = Unpooled.wrappedBuffer(new byte[16_384]);
            sent.add(clientChannel.writeAndFlush(new DefaultHttp2DataFrame(chunk, i == 15).stream(stream)));
            shuttle();
        }
        assertThat(sent).allMatch(ChannelFuture::isSuccess, "written to the connection");
        assertThat(client.frames.get(stream.id())).hasSize(2);
        assertThat(clientChannel.isOpen()).isTrue();
    }

    private Http2FrameStream get(String path) {
        Http2FrameStream stream = client.newStream();
        Http2Headers headers = new DefaultHttp2Headers().method("GET").scheme("http").authority("peer").path(path);
        clientChannel.writeAndFlush(new DefaultHttp2HeadersFrame(headers, true).stream(stream));
        return stream;
    }

    /** Moves bytes both ways until neither side has more to send. */
    private void shuttle() {
        boolean moved = true;
        while (moved) {
            moved = move(clientChannel, server) | move(server, clientChannel);
        }
    }

    private static boolean move(EmbeddedChannel from, EmbeddedChannel to) {
        boolean moved = false;
        for (ByteBuf b; (b = from.readOutbound()) != null; ) {
            to.writeInbound(b);
            moved = true;
        }
        to.flushOutbound();
        return moved;
    }

    /** Collects the frames of every stream; keeps the server's settings. */
    private static final class Client extends Http2ChannelDuplexHandler {
        final Map<Integer, List<Object>> frames = new HashMap<>();
        Http2Settings settings;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2SettingsFrame s) {
                settings = s.settings();
            } else if (msg instanceof Http2HeadersFrame h) {
                frames.computeIfAbsent(h.stream().id(), k -> new ArrayList<>()).add(h);
            } else if (msg instanceof Http2DataFrame d) {
                frames.computeIfAbsent(d.stream().id(), k -> new ArrayList<>()).add(d);
            } else {
                ReferenceCountUtil.release(msg);
            }
        }
    }
}
