package io.stellane.benchmarks.peer;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.ResourceLeakDetector;

import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * The peer of the HTTP benchmark: raw Netty on the same version and transports as Stellane, serving the
 * TechEmpower {@code /plaintext} and {@code /json} routes the usual way (HttpServerCodec and one handler,
 * a flush per read burst). {@code java -cp benchmarks.jar io.stellane.benchmarks.peer.NettyPeer PORT
 * [nio|epoll|io_uring]}; one event loop per CPU it may use, bound to 127.0.0.1.
 */
public final class NettyPeer {
    static final AsciiString SERVER = AsciiString.cached("Netty");
    static final AsciiString TEXT_PLAIN = AsciiString.cached("text/plain");
    private static final AsciiString JSON = AsciiString.cached("application/json");
    private static final byte[] TEXT_BYTES = "Hello, World!".getBytes(StandardCharsets.US_ASCII);
    static final ByteBuf TEXT = Unpooled.unreleasableBuffer(
            Unpooled.directBuffer(TEXT_BYTES.length).writeBytes(TEXT_BYTES)).asReadOnly();
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final DateTimeFormatter HTTP_DATE =
            DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", Locale.ENGLISH);

    /** The JSON body, serialized anew for every request as the TechEmpower rules ask. */
    record Message(String message) {
    }

    /** Refreshed once a second on the event loop group. */
    static volatile AsciiString date = new AsciiString(httpDate());

    private NettyPeer() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            throw new IllegalArgumentException("usage: NettyPeer PORT [nio|epoll|io_uring]");
        }
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
        int port = Integer.parseInt(args[0]);
        String transport = args.length > 1 ? args[1] : "nio";
        Transport t = Transport.named(transport);
        int threads = Runtime.getRuntime().availableProcessors();
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(threads, t.io());
        try {
            keepDate(group);
            ServerBootstrap b = new ServerBootstrap()
                    .group(group)
                    .channel(t.channel())
                    .option(ChannelOption.SO_BACKLOG, 1024)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new HttpServerCodec(), new Handler());
                        }
                    });
            var ch = b.bind("127.0.0.1", port).sync().channel();
            System.out.println("NettyPeer listening on 127.0.0.1:" + port + " (" + transport + ", " + threads
                    + " event loop(s), java " + Runtime.version() + ")");
            ch.closeFuture().sync();
        } finally {
            group.shutdownGracefully();
        }
    }

    /** Refreshes {@link #date} once a second on {@code group}. */
    static void keepDate(EventLoopGroup group) {
        group.scheduleAtFixedRate(() -> date = new AsciiString(httpDate()), 1, 1, TimeUnit.SECONDS);
    }

    private static String httpDate() {
        return HTTP_DATE.format(ZonedDateTime.now(ZoneOffset.UTC));
    }

    /** A transport by its command-line name: its I/O handler and server channel. */
    record Transport(IoHandlerFactory io, Class<? extends ServerChannel> channel) {
        static Transport named(String name) {
            return switch (name) {
                case "nio" -> new Transport(NioIoHandler.newFactory(), NioServerSocketChannel.class);
                case "epoll" -> {
                    Epoll.ensureAvailability();
                    yield new Transport(EpollIoHandler.newFactory(), EpollServerSocketChannel.class);
                }
                case "io_uring" -> {
                    IoUring.ensureAvailability();
                    yield new Transport(IoUringIoHandler.newFactory(), IoUringServerSocketChannel.class);
                }
                default -> throw new IllegalArgumentException("transport must be nio|epoll|io_uring, not " + name);
            };
        }
    }

    private static final class Handler extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof HttpRequest req) {
                    handle(ctx, req);
                } // the HttpContent parts of a GET carry nothing: released
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        private static void handle(ChannelHandlerContext ctx, HttpRequest req) {
            FullHttpResponse res = switch (req.uri()) {
                case "/plaintext" -> response(HttpResponseStatus.OK, TEXT.duplicate(), TEXT_PLAIN);
                case "/json" -> response(HttpResponseStatus.OK, Unpooled.wrappedBuffer(json()), JSON);
                default -> response(HttpResponseStatus.NOT_FOUND, Unpooled.EMPTY_BUFFER, TEXT_PLAIN);
            };
            if (HttpUtil.isKeepAlive(req)) {
                ctx.write(res, ctx.voidPromise()); // flushed in channelReadComplete
            } else {
                ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
            }
        }

        private static byte[] json() {
            try {
                return MAPPER.writeValueAsBytes(new Message("Hello, World!"));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }

        private static FullHttpResponse response(HttpResponseStatus status, ByteBuf body, AsciiString type) {
            FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, body, false);
            res.headers()
                    .set(HttpHeaderNames.CONTENT_TYPE, type)
                    .set(HttpHeaderNames.SERVER, SERVER)
                    .set(HttpHeaderNames.DATE, date)
                    .setInt(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes());
            return res;
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
