/* Stand-in for arduino-esp32's ESPmDNS.h: declarations only (tests/esp32_stubs/README.md). */
#ifndef STUB_ESPMDNS_H
#define STUB_ESPMDNS_H
#include "Arduino.h"

class MDNSResponder {
public:
    bool begin(const char *hostName);
    bool addService(char *service, char *proto, uint16_t port);
    bool addService(const char *service, const char *proto, uint16_t port);
};
extern MDNSResponder MDNS;
#endif
