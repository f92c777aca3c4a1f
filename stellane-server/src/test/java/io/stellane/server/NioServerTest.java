package io.stellane.server;

class NioServerTest extends ServerSuite {
    @Override
    String backend() {
        return "nio";
    }
}
