/* Stand-in for arduino-esp32's WiFi.h: declarations only (tests/esp32_stubs/README.md). */
#ifndef STUB_WIFI_H
#define STUB_WIFI_H
#include "Arduino.h"

typedef enum { WIFI_MODE_NULL = 0, WIFI_MODE_STA, WIFI_MODE_AP, WIFI_MODE_APSTA } wifi_mode_t;
#define WIFI_STA WIFI_MODE_STA
typedef enum { WL_IDLE_STATUS = 0, WL_NO_SSID_AVAIL = 1, WL_CONNECTED = 3, WL_DISCONNECTED = 6 } wl_status_t;

class IPAddress {
public:
    String toString() const;
};

class WiFiClass {
public:
    static bool mode(wifi_mode_t mode);
    static bool setHostname(const char *hostname);
    bool setAutoReconnect(bool autoReconnect);
    wl_status_t begin(const char *ssid, const char *passphrase = NULL, int32_t channel = 0,
                      const uint8_t *bssid = NULL, bool connect = true);
    static wl_status_t status();
    IPAddress localIP();
};
extern WiFiClass WiFi;
#endif
