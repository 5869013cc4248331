/* Stand-in for arduino-esp32's WebServer.h: declarations only (tests/esp32_stubs/README.md). */
#ifndef STUB_WEBSERVER_H
#define STUB_WEBSERVER_H
#include "Arduino.h"

/* http_parser's enum (cores 2.x and 3.x); 1.x had bit flags with the same names. */
typedef enum { HTTP_DELETE = 0, HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_CONNECT, HTTP_OPTIONS } HTTPMethod;

class WebServer {
public:
    WebServer(int port = 80);
    virtual ~WebServer();
    virtual void begin();
    virtual void handleClient();
    /* The core has std::function<void(void)>; a function pointer takes the same plain functions and
     * needs no C++ library (the bare-metal RISC-V g++ the tests also use has none). */
    typedef void (*THandlerFunction)(void);
    void onNotFound(THandlerFunction fn);
    String uri();
    HTTPMethod method();
    String arg(String name);
    bool hasArg(String name);
    void collectHeaders(const char *headerKeys[], const size_t headerKeysCount);
    String header(String name);
    bool hasHeader(String name);
    void send(int code, const char *content_type = NULL, const String &content = String(""));
    void send_P(int code, PGM_P content_type, PGM_P content, size_t contentLength);
    void sendHeader(const String &name, const String &value, bool first = false);
};
#endif
