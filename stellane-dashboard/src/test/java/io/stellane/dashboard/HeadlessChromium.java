package io.stellane.dashboard;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Headless Chromium driven over the DevTools protocol with the JDK's own HTTP client and WebSocket:
 * starts the browser on a private profile directory, opens one page target, evaluates JavaScript in
 * it and takes screenshots. {@link #close()} ends the browser and every process it started.
 */
final class HeadlessChromium implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration STARTUP = Duration.ofSeconds(30);

    private final Process process;
    private final List<ProcessHandle> children = new ArrayList<>();
    private final HttpClient http = HttpClient.newHttpClient();
    private final Map<Integer, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
    private final AtomicInteger ids = new AtomicInteger();
    private final int port;
    private WebSocket socket;

    private HeadlessChromium(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    /** Starts {@code binary} with its profile and log in {@code dir} (a fresh directory the caller deletes). */
    static HeadlessChromium start(Path binary, Path dir) throws IOException, InterruptedException {
        Path profile = Files.createDirectories(dir.resolve("profile"));
        Path log = dir.resolve("chromium.log");
        // its temp files (e.g. the SingletonSocket the profile links to) go into dir too
        Path tmp = Files.createDirectories(dir.resolve("tmp"));
        ProcessBuilder pb = new ProcessBuilder(binary.toString(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1700", "--user-data-dir=" + profile, "--remote-debugging-port=0", "about:blank")
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("TMPDIR", tmp.toString());
        Process p = pb.start();
        HeadlessChromium c = null;
        try {
            // Chromium writes "<port>\n<browser path>" here once DevTools listens
            Path active = profile.resolve("DevToolsActivePort");
            long deadline = System.nanoTime() + STARTUP.toNanos();
            int port = -1;
            while (port < 0) {
                if (!p.isAlive()) {
                    throw new IOException("chromium exited with " + p.exitValue() + " before DevTools listened; its log:\n"
                            + Files.readString(log));
                }
                if (System.nanoTime() > deadline) {
                    throw new IOException("chromium did not open DevTools within " + STARTUP + "; its log:\n" + Files.readString(log));
                }
                if (Files.exists(active)) {
                    List<String> lines = Files.readAllLines(active);
                    if (lines.size() >= 2 && !lines.getFirst().isBlank()) {
                        port = Integer.parseInt(lines.getFirst().trim());
                        break;
                    }
                }
                p.waitFor(50, TimeUnit.MILLISECONDS); // returns at once if it exits
            }
            c = new HeadlessChromium(p, port);
            return c;
        } finally {
            if (c == null) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    /** Opens {@code url} in a new page target and connects to it; later calls act on that page. */
    void open(String url) throws Exception {
        URI newTarget = URI.create("http://127.0.0.1:" + port + "/json/new?" + URLEncoder.encode(url, StandardCharsets.UTF_8));
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(newTarget).PUT(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IOException("PUT " + newTarget + " answered " + r.statusCode() + ": " + r.body());
        }
        String ws = JSON.readTree(r.body()).path("webSocketDebuggerUrl").asText("");
        if (ws.isEmpty()) {
            throw new IOException("no webSocketDebuggerUrl in " + r.body());
        }
        socket = http.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(10))
                .buildAsync(URI.create(ws), new Listener()).get(10, TimeUnit.SECONDS);
        children.addAll(process.descendants().toList());
    }

    /** Sends one DevTools command and waits for its result. */
    JsonNode call(String method, ObjectNode params) throws Exception {
        int id = ids.incrementAndGet();
        CompletableFuture<JsonNode> reply = new CompletableFuture<>();
        pending.put(id, reply);
        ObjectNode msg = JSON.createObjectNode().put("id", id).put("method", method);
        msg.set("params", params == null ? JSON.createObjectNode() : params);
        socket.sendText(JSON.writeValueAsString(msg), true).get(10, TimeUnit.SECONDS);
        JsonNode res = reply.get(20, TimeUnit.SECONDS);
        if (res.has("error")) {
            throw new IOException(method + " failed: " + res.get("error"));
        }
        return res.path("result");
    }

    /** The value of a JavaScript expression in the page (JSON-serializable; a promise is awaited). */
    JsonNode evaluate(String expression) throws Exception {
        JsonNode r = call("Runtime.evaluate", JSON.createObjectNode().put("expression", expression)
                .put("returnByValue", true).put("awaitPromise", true));
        if (r.has("exceptionDetails")) {
            throw new IOException("evaluating " + expression + " threw: " + r.get("exceptionDetails"));
        }
        return r.path("result").path("value");
    }

    /** A PNG of the page as it is now. */
    byte[] screenshot() throws Exception {
        JsonNode r = call("Page.captureScreenshot", JSON.createObjectNode().put("format", "png"));
        return java.util.Base64.getDecoder().decode(r.get("data").asText());
    }

    @Override
    public void close() throws InterruptedException {
        if (socket != null) {
            socket.abort();
        }
        http.close();
        children.addAll(process.descendants().toList());
        process.destroy();
        if (!process.waitFor(5, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
        // renderers and helpers normally go with the browser; make sure, by the PIDs we saw
        for (ProcessHandle h : children) {
            if (h.isAlive()) {
                h.destroyForcibly();
            }
        }
        for (ProcessHandle h : children) {
            try {
                h.onExit().get(5, TimeUnit.SECONDS);
            } catch (Exception e) {
                // reported by the caller's leak check, if it has one
            }
        }
    }

    /** Reassembles fragmented text messages and completes the matching pending call. */
    private final class Listener implements WebSocket.Listener {
        private final StringBuilder buf = new StringBuilder();

        @Override
        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
            buf.append(data);
            if (last) {
                String text = buf.toString();
                buf.setLength(0);
                try {
                    JsonNode msg = JSON.readTree(text);
                    if (msg.has("id")) {
                        CompletableFuture<JsonNode> f = pending.remove(msg.get("id").asInt());
                        if (f != null) {
                            f.complete(msg);
                        }
                    }
                } catch (IOException e) {
                    pending.values().forEach(f -> f.completeExceptionally(e));
                }
            }
            ws.request(1);
            return null;
        }

        @Override
        public void onError(WebSocket ws, Throwable error) {
            pending.values().forEach(f -> f.completeExceptionally(error));
        }

        @Override
        public CompletionStage<?> onClose(WebSocket ws, int status, String reason) {
            pending.values().forEach(f -> f.completeExceptionally(new IOException("DevTools closed: " + status + " " + reason)));
            return null;
        }
    }
}
