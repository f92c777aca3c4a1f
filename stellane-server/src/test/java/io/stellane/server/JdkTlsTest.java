package io.stellane.server;

class JdkTlsTest extends TlsSuite {
    @Override
    TlsConfig.Engine engine() {
        return TlsConfig.Engine.JDK;
    }

    @Override
    String engineName() {
        return "jdk";
    }
}
