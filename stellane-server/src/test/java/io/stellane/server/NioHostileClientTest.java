package io.stellane.server;

class NioHostileClientTest extends HostileClientSuite {
    @Override
    String backend() {
        return "nio";
    }
}
