package io.stellane.benchmarks.peer;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2FrameStream;
import io.netty.handler.codec.http2.Http2FrameStreamException;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.ResourceLeakDetector;

/**
 * The peer of the HTTP/2 benchmark ({@code bench/h2-bench.sh}): raw Netty serving {@code /plaintext} over
 * cleartext HTTP/2 with prior knowledge (h2c), with the headers {@link NettyPeer} sends.
 * {@code java -cp benchmarks.jar io.stellane.benchmarks.peer.NettyH2Peer PORT [nio|epoll|io_uring]}; one
 * event loop per CPU it may use, bound to 127.0.0.1, the default allocator as NettyPeer.
 *
 * <p>The shape is Netty's "frame codec" example: {@code Http2FrameCodec} and one handler on the connection's
 * own pipeline, answering every stream from there. The other shape Netty shows, {@code Http2MultiplexHandler}
 * (what Stellane uses, for a pipeline per request), adds a child channel, its pipeline and its own write path
 * to every stream; without them this is the leaner and faster of the two, so the higher bar.
 */
public final class NettyH2Peer {
    private static final AsciiString CONTENT_LENGTH = AsciiString.of(String.valueOf(NettyPeer.TEXT.readableBytes()));
    private static final AsciiString PLAINTEXT = AsciiString.cached("/plaintext");
    private static final Handler HANDLER = new Handler();
    /** Stellane's default {@code http2_max_concurrent_streams}: the same cap on both sides. */
    static final int MAX_CONCURRENT_STREAMS = 100;

    private NettyH2Peer() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            throw new IllegalArgumentException("usage: NettyH2Peer PORT [nio|epoll|io_uring]");
        }
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
        int port = Integer.parseInt(args[0]);
        String transport = args.length > 1 ? args[1] : "nio";
        NettyPeer.Transport t = NettyPeer.Transport.named(transport);
        int threads = Runtime.getRuntime().availableProcessors();
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(threads, t.io());
        try {
            NettyPeer.keepDate(group);
            ServerBootstrap b = new ServerBootstrap()
                    .group(group)
                    .channel(t.channel())
                    .option(ChannelOption.SO_BACKLOG, 1024)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            NettyH2Peer.initChannel(ch);
                        }
                    });
            var ch = b.bind("127.0.0.1", port).sync().channel();
            System.out.println("NettyH2Peer listening on 127.0.0.1:" + port + " (h2c, " + transport + ", " + threads
                    + " event loop(s), java " + Runtime.version() + ")");
            ch.closeFuture().sync();
        } finally {
            group.shutdownGracefully();
        }
    }

    /** The connection's pipeline: the frame codec (it checks the client preface itself) and the handler. */
    static void initChannel(Channel ch) {
        Http2Settings settings = Http2Settings.defaultSettings().maxConcurrentStreams(MAX_CONCURRENT_STREAMS);
        ch.pipeline().addLast(Http2FrameCodecBuilder.forServer().initialSettings(settings).build(), HANDLER);
    }

    @ChannelHandler.Sharable
    private static final class Handler extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2HeadersFrame h) {
                // answered at once, body or not: the peer serves GETs, and an early answer is valid HTTP/2
                respond(ctx, h.stream(), PLAINTEXT.contentEquals(h.headers().path()));
            } else if (msg instanceof Http2DataFrame d) {
                // a body is read and dropped; its bytes go back to the client's window or it would stall
                int bytes = d.initialFlowControlledBytes();
                Http2FrameStream stream = d.stream();
                d.release();
                if (bytes > 0) {
                    ctx.write(new DefaultHttp2WindowUpdateFrame(bytes).stream(stream), ctx.voidPromise());
                }
            } else {
                ReferenceCountUtil.release(msg); // settings, pings, resets: the codec has acted on them
            }
        }

        private static void respond(ChannelHandlerContext ctx, Http2FrameStream stream, boolean found) {
            Http2Headers headers = new DefaultHttp2Headers()
                    .status(found ? HttpResponseStatus.OK.codeAsText() : HttpResponseStatus.NOT_FOUND.codeAsText())
                    .set(HttpHeaderNames.CONTENT_TYPE, NettyPeer.TEXT_PLAIN)
                    .set(HttpHeaderNames.SERVER, NettyPeer.SERVER)
                    .set(HttpHeaderNames.DATE, NettyPeer.date);
            if (found) {
                headers.set(HttpHeaderNames.CONTENT_LENGTH, CONTENT_LENGTH);
                ctx.write(new DefaultHttp2HeadersFrame(headers).stream(stream), ctx.voidPromise());
                ctx.write(new DefaultHttp2DataFrame(NettyPeer.TEXT.duplicate(), true).stream(stream), ctx.voidPromise());
            } else {
                headers.setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
                ctx.write(new DefaultHttp2HeadersFrame(headers, true).stream(stream), ctx.voidPromise());
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush(); // one flush per read burst, as NettyPeer
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // a stream's error has already reset that stream alone; anything else ends the connection
            if (!(cause instanceof Http2FrameStreamException)) {
                ctx.close();
            }
        }
    }
}
