package com.example.quickstart;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.task.Task;

/** One route, {@code GET /hello}, on the default runtime. */
public final class Hello {
    private Hello() {
    }

    /** The server with its routes, not yet listening. */
    public static Server server() {
        return new Server().get("/hello", ctx -> Task.completed(Response.text("Hello, Stellane!")));
    }

    public static void main(String[] args) {
        Runtime.init(RuntimeConfig.defaults());    // the workers run from here on
        int port = server().listen(args.length > 0 ? Integer.parseInt(args[0]) : 8080);
        System.out.println("listening on http://localhost:" + port + "/hello");
        Runtime.start();                           // blocks until Runtime.stop()
    }
}
