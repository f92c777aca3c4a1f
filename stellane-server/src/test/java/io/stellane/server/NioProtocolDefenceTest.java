package io.stellane.server;

class NioProtocolDefenceTest extends ProtocolDefenceSuite {
    @Override
    String backend() {
        return "nio";
    }
}
