package io.stellane.examples;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.ReferenceCountUtil;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * An HTTP/2 client over cleartext with prior knowledge on one connection, built on Netty's client
 * codec and stream multiplexer: each request is a stream of its own, so requests from several threads
 * are in flight at once on the connection, with flow control as a real client does it. Thread-safe.
 */
final class H2cClient implements AutoCloseable {
    /** An answer: its status and body. */
    record Reply(int status, String body) {
    }

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final Channel channel;
    private final int port;

    H2cClient(int port) throws InterruptedException {
        this.port = port;
        Bootstrap b = new Bootstrap().group(group).channel(NioSocketChannel.class).handler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
                ch.pipeline().addLast(Http2FrameCodecBuilder.forClient().build(),
                        new Http2MultiplexHandler(new ChannelInboundHandlerAdapter())); // the server pushes nothing
            }
        });
        Channel c;
        try {
            c = b.connect("127.0.0.1", port).sync().channel();
        } catch (InterruptedException | RuntimeException e) {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw e;
        }
        channel = c;
    }

    /** Sends {@code body} as JSON on a new stream; fails if the connection or the stream ends before the answer does. */
    CompletableFuture<Reply> post(String path, String body) {
        CompletableFuture<Reply> reply = new CompletableFuture<>();
        new Http2StreamChannelBootstrap(channel).handler(new ReplyReader(reply)).open().addListener(opened -> {
            if (!opened.isSuccess()) {
                reply.completeExceptionally(opened.cause());
                return;
            }
            Http2StreamChannel stream = (Http2StreamChannel) opened.getNow();
            stream.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("POST").path(path).scheme("http")
                    .authority("127.0.0.1:" + port).add("content-type", "application/json")));
            stream.writeAndFlush(new DefaultHttp2DataFrame(ByteBufUtil.writeUtf8(stream.alloc(), body), true))
                    .addListener(written -> {
                        if (!written.isSuccess()) {
                            reply.completeExceptionally(written.cause());
                        }
                    });
        });
        return reply;
    }

    @Override
    public void close() {
        channel.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    /** One stream's side: collects the answer, and fails it if the stream ends first. */
    private static final class ReplyReader extends ChannelInboundHandlerAdapter {
        private final CompletableFuture<Reply> reply;
        private final StringBuilder body = new StringBuilder();
        private int status = -1;

        ReplyReader(CompletableFuture<Reply> reply) {
            this.reply = reply;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                boolean end = false;
                if (msg instanceof Http2HeadersFrame h) {
                    if (status < 0) {
                        status = Integer.parseInt(h.headers().status().toString());
                    }
                    end = h.isEndStream();
                } else if (msg instanceof Http2DataFrame d) {
                    body.append(d.content().toString(StandardCharsets.UTF_8));
                    end = d.isEndStream();
                }
                if (end) {
                    reply.complete(new Reply(status, body.toString()));
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2ResetFrame r) {
                reply.completeExceptionally(new IOException("stream reset: " + r.errorCode()));
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            reply.completeExceptionally(new IOException("the stream ended before its answer"));
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            reply.completeExceptionally(cause);
            ctx.close();
        }
    }
}
