package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2FrameReader;
import io.netty.handler.codec.http2.DefaultHttp2FrameWriter;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2Flags;
import io.netty.handler.codec.http2.Http2FrameAdapter;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2Settings;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * An HTTP/2 client at the frame level over a blocking socket, with prior knowledge: Netty's frame
 * writer and reader, and nothing of its connection logic, so it can do what a well-behaved client
 * would refuse to (open more streams than the server allows, reset streams as fast as it can).
 * Not thread-safe; one test thread.
 */
final class H2RawClient implements AutoCloseable {
    /** What came back on one stream. */
    static final class Reply {
        int status = -1;
        Http2Headers headers;
        final StringBuilder body = new StringBuilder();
        boolean ended;
        /** The RST_STREAM error code, or -1. */
        long reset = -1;

        boolean finished() {
            return ended || reset >= 0;
        }
    }

    private final Socket socket;
    private final OutputStream out;
    private final InputStream in;
    private final int port;
    private final EmbeddedChannel sink = new EmbeddedChannel(new ChannelDuplexHandler());
    private final ChannelHandlerContext ctx = sink.pipeline().firstContext();
    private final DefaultHttp2FrameWriter writer = new DefaultHttp2FrameWriter();
    private final DefaultHttp2FrameReader reader = new DefaultHttp2FrameReader();
    private final ByteBuf received = Unpooled.buffer();
    private final Map<Integer, Reply> replies = new HashMap<>();
    /** The GOAWAY error code, or -1. */
    long goAway = -1;
    /** The last-stream-id of each GOAWAY read, in order. */
    final java.util.List<Integer> goAwayLastStreams = new java.util.ArrayList<>();
    boolean closed;
    private int nextStream = 1;

    /** The server's answer to an upgrade request, up to its blank line; null with prior knowledge. */
    String upgradeResponse;

    H2RawClient(int port) throws IOException {
        this(port, null, 0);
    }

    /**
     * With the socket's receive buffer set to {@code receiveBuffer} bytes before it connects: a client
     * that stops reading then holds up the server's writes soon.
     */
    H2RawClient(int port, int receiveBuffer) throws IOException {
        this(port, null, receiveBuffer);
    }

    /**
     * A client that starts as HTTP/1.1 with a {@code GET path} asking to upgrade to h2c and, once the
     * answer's head is read (in {@link #upgradeResponse}), sends the preface; the request's answer is
     * {@code reply(1)}.
     */
    static H2RawClient upgrading(int port, String path) throws IOException {
        return new H2RawClient(port, path, 0);
    }

    private H2RawClient(int port, String upgradePath, int receiveBuffer) throws IOException {
        this.port = port;
        socket = new Socket();
        if (receiveBuffer > 0) {
            socket.setReceiveBufferSize(receiveBuffer);
        }
        socket.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
        socket.setSoTimeout(10_000);
        out = socket.getOutputStream();
        in = socket.getInputStream();
        if (upgradePath != null) {
            out.write(("GET " + upgradePath + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n"
                    + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                    + "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            upgradeResponse = readHead();
            replies.put(1, new Reply());
            nextStream = 3;
        }
        out.write(ByteBufUtil.getBytes(Http2CodecUtil.connectionPrefaceBuf()));
        writer.writeSettings(ctx, new Http2Settings(), ctx.newPromise());
        send();
    }

    /**
     * Starts a request on a new stream (headers only, with any more fields given as name, value, ...;
     * the stream ends unless a body follows); its stream id.
     */
    int start(String method, String path, boolean endStream, String... moreNamesAndValues) {
        int id = nextStream;
        nextStream += 2;
        Http2Headers h = new DefaultHttp2Headers().method(method).path(path).scheme("http")
                .authority("127.0.0.1:" + port);
        for (int i = 0; i < moreNamesAndValues.length; i += 2) {
            h.add(moreNamesAndValues[i], moreNamesAndValues[i + 1]);
        }
        writer.writeHeaders(ctx, id, h, 0, endStream, ctx.newPromise());
        replies.put(id, new Reply());
        return id;
    }

    void data(int stream, String text, boolean endStream) {
        writer.writeData(ctx, stream, Unpooled.copiedBuffer(text, StandardCharsets.UTF_8), 0, endStream, ctx.newPromise());
    }

    void ping(long data) {
        writer.writePing(ctx, false, data, ctx.newPromise());
    }

    void reset(int stream) {
        writer.writeRstStream(ctx, stream, Http2Error.CANCEL.code(), ctx.newPromise());
    }

    void settings() {
        writer.writeSettings(ctx, new Http2Settings(), ctx.newPromise());
    }

    /** Any frame, unchecked: a header block cut into pieces, say. */
    void frame(byte type, int flags, int stream, byte[] payload) {
        writer.writeFrame(ctx, type, stream, new Http2Flags((short) flags), Unpooled.wrappedBuffer(payload), ctx.newPromise());
    }

    /** Sends what was written so far. */
    void send() throws IOException {
        sink.flushOutbound();
        java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
        for (ByteBuf b; (b = sink.readOutbound()) != null; ) {
            try {
                b.readBytes(all, b.readableBytes());
            } finally {
                b.release();
            }
        }
        out.write(all.toByteArray()); // one write: a server that closes mid-way cannot break the rest of it
        out.flush();
    }

    /** A whole request: starts it, sends it, and reads until it is answered. */
    Reply request(String method, String path, String body) throws IOException {
        int id = start(method, path, body == null);
        if (body != null) {
            data(id, body, true);
        }
        send();
        readUntil(() -> reply(id).finished());
        return reply(id);
    }

    Reply reply(int stream) {
        return replies.get(stream);
    }

    /** Reads the frames that have arrived, without waiting for more. */
    void poll() throws IOException {
        while (!closed && in.available() > 0) {
            readOnce();
        }
    }

    /** Reads an HTTP/1.1 head byte by byte; what follows it stays in the socket for the frame reader. */
    private String readHead() throws IOException {
        StringBuilder head = new StringBuilder();
        while (head.length() < 4 || !head.substring(head.length() - 4).equals("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("closed before the end of the head: " + head);
            }
            head.append((char) b);
        }
        return head.toString();
    }

    /** Reads frames until {@code done}, the server closes, or ten seconds pass without a byte. */
    void readUntil(BooleanSupplier done) throws IOException {
        while (!done.getAsBoolean() && !closed) {
            if (!readOnce()) {
                return;
            }
        }
    }

    /** One read from the socket and the frames it completes; false when it timed out. */
    private boolean readOnce() throws IOException {
        byte[] buf = new byte[16 * 1024];
        int n;
        try {
            n = in.read(buf);
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            closed = true; // reset by the server
            return true;
        }
        if (n < 0) {
            closed = true;
            return true;
        }
        received.writeBytes(buf, 0, n);
        try {
            reader.readFrame(ctx, received, listener);
        } catch (Http2Exception e) {
            throw new IOException(e);
        }
        received.discardReadBytes();
        try {
            send(); // settings acks
        } catch (IOException e) {
            closed = true; // the server closed first (after a GOAWAY): what it sent is read above
        }
        return true;
    }

    private final Http2FrameAdapter listener = new Http2FrameAdapter() {
        @Override
        public void onHeadersRead(ChannelHandlerContext c, int streamId, Http2Headers headers, int padding, boolean endOfStream) {
            Reply r = replies.computeIfAbsent(streamId, k -> new Reply());
            if (r.status < 0) {
                r.status = Integer.parseInt(headers.status().toString());
                r.headers = headers;
            }
            r.ended |= endOfStream;
        }

        @Override
        public void onHeadersRead(ChannelHandlerContext c, int streamId, Http2Headers headers, int streamDependency,
                short weight, boolean exclusive, int padding, boolean endOfStream) {
            onHeadersRead(c, streamId, headers, padding, endOfStream);
        }

        @Override
        public int onDataRead(ChannelHandlerContext c, int streamId, ByteBuf data, int padding, boolean endOfStream) {
            Reply r = replies.computeIfAbsent(streamId, k -> new Reply());
            r.body.append(data.toString(StandardCharsets.UTF_8));
            r.ended |= endOfStream;
            return data.readableBytes() + padding;
        }

        @Override
        public void onRstStreamRead(ChannelHandlerContext c, int streamId, long errorCode) {
            replies.computeIfAbsent(streamId, k -> new Reply()).reset = errorCode;
        }

        @Override
        public void onGoAwayRead(ChannelHandlerContext c, int lastStreamId, long errorCode, ByteBuf debugData) {
            goAway = errorCode;
            goAwayLastStreams.add(lastStreamId);
        }

        @Override
        public void onSettingsRead(ChannelHandlerContext c, Http2Settings settings) {
            writer.writeSettingsAck(ctx, ctx.newPromise());
        }
    };

    @Override
    public void close() throws IOException {
        received.release();
        sink.finishAndReleaseAll();
        socket.close();
    }
}
