/* WiFi credentials of env esp32c3_web. Copy this file to wifi_secrets.h in the same folder and fill
 * it in: wifi_secrets.h is gitignored, so the password stays on your machine. Alternatively leave
 * the file out and pass build flags (docs/draw-a-digit.md):
 *   PLATFORMIO_BUILD_FLAGS='-DNNMODEL_WIFI_SSID=\"name\" -DNNMODEL_WIFI_PASSWORD=\"secret\"' \
 *     pio run -e esp32c3_web -t upload
 * The ESP32-C3 joins 2.4 GHz networks only (WPA2/WPA3 personal). */
#ifndef NNMODEL_WIFI_SSID
#define NNMODEL_WIFI_SSID "your-network"
#endif
#ifndef NNMODEL_WIFI_PASSWORD
#define NNMODEL_WIFI_PASSWORD "your-password"
#endif
