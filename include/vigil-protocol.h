/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Names that cross the monitor's boundary: shared by the monitor and its clients (vigilctl),
 * and documented in the README and vigilctl(1).
 */
#pragma once

/* The control socket's name in the bundle directory, unless --control-socket moves it. */
#define VIGIL_CONTROL_SOCKET_NAME "vigil.sock"

/* The Varlink interface the control socket serves. */
#define VIGIL_VARLINK_INTERFACE "io.vigil.Monitor"
