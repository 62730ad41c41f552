"""The two drawn scenes of the demo clips: a corridor with an emergency exit, and a fire-control room."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from sprites import H, W, Sprite, exit_sign, paste, soft_shadow, texture, warp_onto

# ---------------------------------------------------------------------------------------------------
# Scene 1: corridor with an emergency exit at the far end
# ---------------------------------------------------------------------------------------------------
class Corridor:
    """A pinhole view down a corridor. World: X across (m, 0 = corridor centre), Y up from the floor,
    Z away from the camera. The exit door is in the end wall."""

    f, cx, cy = 420.0, 320.0, 72.0  # focal length (px) and principal point (horizon at v = cy)
    cam_x, cam_h = -0.25, 2.55  # camera mount: a little left of centre, under the ceiling
    half, ceiling, z_near, z_end = 1.2, 2.8, 1.0, 7.5
    door_left = (5.4, 6.4)  # side door (opening) on the left wall, Z range
    door_right = (3.8, 4.7)  # side door on the right wall
    zone_z = (4.15, 7.5)  # the exit zone: corridor floor in front of the exit door
    px_per_m = 160  # texture resolution

    def uv(self, x: float, y: float, z: float) -> tuple[float, float]:
        return self.cx + self.f * (x - self.cam_x) / z, self.cy + self.f * (self.cam_h - y) / z

    def ppm(self, z: float) -> float:
        return self.f / z

    def quad(self, pts: list[tuple[float, float, float]]) -> np.ndarray:
        return np.float32([self.uv(*p) for p in pts])

    def exit_zone(self) -> list[tuple[float, float]]:
        z0, z1 = self.zone_z
        pts = [self.uv(-self.half, 0, z1), self.uv(self.half, 0, z1), self.uv(self.half, 0, z0), self.uv(-self.half, 0, z0)]
        return [(round(min(max(u / W, 0.0), 1.0), 3), round(min(max(v / H, 0.0), 1.0), 3)) for u, v in pts]

    # -- static picture -------------------------------------------------------------------------------
    def background(self, rng: np.random.Generator) -> np.ndarray:
        k = self.px_per_m
        img = np.zeros((H, W, 3), np.float32)
        L = self.z_end - self.z_near
        # floor: 0.6 m vinyl tiles, terrazzo grain, sheen under the ceiling lights
        fw, fl = int(2 * self.half * k), int(L * k)
        floor = texture(rng, (fl, fw), (168, 173, 172), 4.0, 3.0, 25)
        tile = int(0.6 * k)
        for i in range(0, fl // tile + 1):
            for j in range(0, fw // tile + 1):
                floor[i * tile:(i + 1) * tile, j * tile:(j + 1) * tile] += float(rng.normal(0, 2.5))
        for i in range(0, fl, tile):
            floor[i:i + 2] *= 0.8
        for j in range(int(self.half * k) % tile, fw, tile):
            floor[:, j:j + 2] *= 0.8
        zz = self.z_end - (np.arange(fl) / k)  # row 0 is the far end
        xx = np.arange(fw) / k - self.half
        sheen = np.exp(-((xx[None, :] + 0.0) ** 2) / 0.35) * (0.5 + 0.5 * np.cos(zz[:, None] * 2 * math.pi / 2.0) ** 8)
        floor += (14 * sheen)[..., None]
        floor[:, :int(0.08 * k)] *= 0.85
        floor[:, -int(0.08 * k):] *= 0.85
        warp_onto(img, floor, self.quad([(-self.half, 0, self.z_end), (self.half, 0, self.z_end),
                                         (self.half, 0, self.z_near), (-self.half, 0, self.z_near)]))
        # ceiling: acoustic tiles with light panels
        cl = texture(rng, (fl, fw), (206, 209, 210), 2.0)
        for i in range(0, fl, tile):
            cl[i:i + 2] *= 0.9
        for lz in (2.3, 4.3, 6.3):
            r0, r1 = int((self.z_end - lz - 0.6) * k), int((self.z_end - lz + 0.6) * k)
            c0, c1 = int((self.half - 0.3) * k), int((self.half + 0.3) * k)
            cl[max(0, r0):max(0, r1), c0:c1] = (246, 250, 250)
        warp_onto(img, cl, self.quad([(-self.half, self.ceiling, self.z_end), (self.half, self.ceiling, self.z_end),
                                      (self.half, self.ceiling, self.z_near), (-self.half, self.ceiling, self.z_near)]))
        # side walls (texture x = Z from far to near, y = height from the ceiling down)
        for side, door, shade in ((-1, self.door_left, 0.93), (1, self.door_right, 0.97)):
            wall = self._wall(rng, fl, door, shade)
            xw = side * self.half
            quad = self.quad([(xw, self.ceiling, self.z_end), (xw, self.ceiling, self.z_near),
                              (xw, 0, self.z_near), (xw, 0, self.z_end)])
            warp_onto(img, wall, quad)
        # end wall with the emergency exit (texture x = X, y = height from the ceiling down)
        warp_onto(img, self._end_wall(rng), self.quad([(-self.half, self.ceiling, self.z_end), (self.half, self.ceiling, self.z_end),
                                                       (self.half, 0, self.z_end), (-self.half, 0, self.z_end)]))
        # light falls off towards the far end and the corners (vignette)
        yy, xx2 = np.mgrid[0:H, 0:W].astype(np.float32)
        r2 = ((xx2 - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2
        img *= (1.0 - 0.16 * r2)[..., None]
        return np.clip(img, 0, 255)

    def _wall(self, rng: np.random.Generator, length: int, door: tuple[float, float], shade: float) -> np.ndarray:
        import cv2

        k = self.px_per_m
        hgt = int(self.ceiling * k)
        wall = texture(rng, (hgt, length), (196, 214, 226), 1.6, 2.0, 30)  # cream paint
        y_dado = int((self.ceiling - 1.0) * k)
        wall[y_dado:] = texture(rng, (hgt - y_dado, length), (168, 196, 176), 1.6, 2.0, 30)  # pale green dado
        wall[y_dado:y_dado + 3] *= 0.85
        wall[int((self.ceiling - 0.1) * k):] = (92, 98, 100)  # skirting
        rail0, rail1 = int((self.ceiling - 0.92) * k), int((self.ceiling - 0.85) * k)
        wall[rail0:rail1] = (70, 118, 160)  # wooden handrail for the residents
        wall[rail0:rail0 + 2] = (110, 160, 200)
        wall[rail1 - 2:rail1] = (45, 80, 110)
        # the side door: an open doorway into a darker room, with a white frame
        c0, c1 = int((self.z_end - door[1]) * k), int((self.z_end - door[0]) * k)
        top = int((self.ceiling - 2.1) * k)
        wall[top - 8:, c0 - 8:c1 + 8] = (206, 208, 206)
        grad = np.linspace(0.8, 1.15, hgt - top, dtype=np.float32)[:, None, None]
        wall[top:, c0:c1] = np.array((62, 70, 78), np.float32) * grad
        plate = (c1 + 18, top + 40)
        cv2.rectangle(wall, plate, (plate[0] + 40, plate[1] + 22), (150, 120, 60), -1)
        cv2.rectangle(wall, (plate[0] + 5, plate[1] + 8), (plate[0] + 35, plate[1] + 13), (230, 230, 230), -1)
        return wall * shade

    def _end_wall(self, rng: np.random.Generator) -> np.ndarray:
        import cv2

        k = self.px_per_m
        hgt, wid = int(self.ceiling * k), int(2 * self.half * k)
        wall = texture(rng, (hgt, wid), (192, 210, 222), 1.5, 1.5, 30)
        y_dado = int((self.ceiling - 1.0) * k)
        wall[y_dado:] = texture(rng, (hgt - y_dado, wid), (164, 192, 172), 1.5, 1.5, 30)
        wall[int((self.ceiling - 0.1) * k):] = (92, 98, 100)
        # double steel exit door, 1.4 m x 2.1 m, push bars, wired-glass vision panels
        d0, d1 = int((self.half - 0.6) * k), int((self.half + 0.8) * k)
        top = int((self.ceiling - 2.1) * k)
        wall[top - 10:, d0 - 10:d1 + 10] = (96, 104, 100)
        door = texture(rng, (hgt - top, d1 - d0), (112, 128, 116), 1.2)
        mid = (d1 - d0) // 2
        door[:, mid - 2:mid + 2] = (70, 78, 72)
        for leaf in (0, mid):
            gx0, gx1 = leaf + int(0.2 * k), leaf + int(0.5 * k)
            gy0, gy1 = int(0.3 * k), int(0.8 * k)
            door[gy0:gy1, gx0:gx1] = (88, 96, 92)
            for gy in range(gy0, gy1, 8):
                door[gy:gy + 1, gx0:gx1] = (120, 126, 122)
            by = int(1.1 * k)
            door[by:by + 8, leaf + 12:leaf + mid - 12] = (190, 192, 194)
            door[by + 8:by + 10, leaf + 12:leaf + mid - 12] = (80, 84, 84)
        wall[top:, d0:d1] = door
        # the exit sign above the door
        sw, sh = int(0.7 * k), int(0.25 * k)
        sx, sy = (d0 + d1) // 2 - sw // 2, top - 18 - sh
        wall[sy:sy + sh, sx:sx + sw] = exit_sign(sw, sh, arrow="left")
        # a floor plan / evacuation map frame to the left of the door
        cv2.rectangle(wall, (int(0.15 * k), int(0.9 * k)), (int(0.45 * k), int(1.3 * k)), (228, 236, 240), -1)
        cv2.rectangle(wall, (int(0.15 * k), int(0.9 * k)), (int(0.45 * k), int(1.3 * k)), (60, 60, 60), 2)
        return wall

    # -- things placed on the floor --------------------------------------------------------------------
    def boxes_layer(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
        """A stack of plain cardboard boxes standing in front of the exit: (bgr, alpha, front Z)."""
        import cv2

        layer = np.zeros((H, W, 3), np.float32)
        alpha = np.zeros((H, W), np.float32)
        # (x0, x1, y0, y1, z0, z1): boxes on the floor and stacked on top of each other
        boxes = [
            (-1.12, -0.50, 0.00, 0.55, 4.95, 5.45),
            (-0.48, 0.12, 0.00, 0.50, 4.80, 5.30),
            (0.14, 0.62, 0.00, 0.45, 4.85, 5.30),
            (-1.05, -0.42, 0.55, 1.00, 5.00, 5.40),
            (-0.44, 0.10, 0.50, 0.92, 4.88, 5.25),
            (0.16, 0.58, 0.45, 0.80, 4.92, 5.25),
            (-0.80, -0.20, 1.00, 1.32, 5.05, 5.40),
        ]
        boxes.sort(key=lambda b: (-b[5], b[2]))  # far first, then bottom up
        for x0, x1, y0, y1, z0, z1 in boxes:
            tone = float(rng.uniform(0.88, 1.08))
            front = np.array((58, 104, 146), np.float32) * tone
            top = np.array((82, 132, 170), np.float32) * tone
            side = np.array((46, 86, 124), np.float32) * tone
            faces = []
            faces.append((self.quad([(x0, y1, z1), (x1, y1, z1), (x1, y1, z0), (x0, y1, z0)]), top))
            if self.cam_x < x0:
                faces.append((self.quad([(x0, y1, z1), (x0, y1, z0), (x0, y0, z0), (x0, y0, z1)]), side))
            if self.cam_x > x1:
                faces.append((self.quad([(x1, y1, z0), (x1, y1, z1), (x1, y0, z1), (x1, y0, z0)]), side))
            faces.append((self.quad([(x0, y1, z0), (x1, y1, z0), (x1, y0, z0), (x0, y0, z0)]), front))
            for quad, colour in faces:
                q = np.round(quad).astype(np.int32)
                m = np.zeros((H, W), np.uint8)
                cv2.fillConvexPoly(m, q, 1, lineType=cv2.LINE_AA)
                layer[m > 0] = colour
                alpha[m > 0] = 1.0
                cv2.polylines(layer, [q], True, tuple(float(c) * 0.7 for c in colour), 1, cv2.LINE_AA)
            # packing tape: along the top's middle and down the front
            xm = (x0 + x1) / 2
            tw = 0.035
            tape = (150, 178, 196)
            cv2.fillConvexPoly(layer, np.round(self.quad([(xm - tw, y1, z1), (xm + tw, y1, z1), (xm + tw, y1, z0), (xm - tw, y1, z0)])).astype(np.int32), tape, cv2.LINE_AA)
            cv2.fillConvexPoly(layer, np.round(self.quad([(xm - tw, y1, z0), (xm + tw, y1, z0), (xm + tw, y1 - 0.12, z0), (xm - tw, y1 - 0.12, z0)])).astype(np.int32), tape, cv2.LINE_AA)
            # a printed handling mark (two arrows) on the front
            ux, uy = self.uv(x0 + 0.08, y0 + (y1 - y0) * 0.55, z0)
            s = self.ppm(z0) * 0.05
            for dx in (0, 1.4):
                p = (int(ux + dx * s), int(uy))
                cv2.arrowedLine(layer, (p[0], p[1] + int(s)), (p[0], p[1] - int(s)), (40, 50, 60), 1, cv2.LINE_AA, tipLength=0.5)
        grain = rng.normal(0.0, 4.0, (H, W, 1)).astype(np.float32)
        layer = np.where(alpha[..., None] > 0, layer + grain, layer)
        alpha = cv2.GaussianBlur(alpha, (0, 0), 0.6)
        return layer, alpha, 4.8

    def bbox(self, x0: float, x1: float, y1: float, z0: float, z1: float) -> tuple[float, float, float, float]:
        pts = [self.uv(x, y, z) for x in (x0, x1) for y in (0.0, y1) for z in (z0, z1)]
        us, vs = [p[0] for p in pts], [p[1] for p in pts]
        return min(us), min(vs), max(us), max(vs)


@dataclass
class Walker:
    """A person walking along waypoints (t, X, Z); fades in/out at doors."""

    sprite: Sprite
    path: list[tuple[float, float, float]]
    height_m: float = 1.72
    fade_in: float = 0.0
    fade_out: float = 0.0
    stride_hz: float = 1.8

    def state(self, t: float) -> tuple[float, float, float] | None:
        """(X, Z, opacity) at time t, or None when the person is not in the picture."""
        p = self.path
        if t < p[0][0] or t > p[-1][0]:
            return None
        for (t0, x0, z0), (t1, x1, z1) in zip(p, p[1:]):
            if t0 <= t <= t1:
                a = (t - t0) / max(t1 - t0, 1e-6)
                x, z = x0 + (x1 - x0) * a, z0 + (z1 - z0) * a
                break
        op = 1.0
        if self.fade_in:
            op = min(op, (t - p[0][0]) / self.fade_in)
        if self.fade_out:
            op = min(op, (p[-1][0] - t) / self.fade_out)
        return x, z, max(0.0, min(1.0, op))

    def moving(self, t: float) -> bool:
        p = self.path
        for (t0, x0, z0), (t1, x1, z1) in zip(p, p[1:]):
            if t0 <= t <= t1:
                return abs(x1 - x0) + abs(z1 - z0) > 1e-6
        return False

    def draw(self, frame: np.ndarray, scene: Corridor, t: float) -> None:
        st = self.state(t)
        if st is None or st[2] <= 0.0:
            return
        x, z, op = st
        ppm = scene.ppm(z)
        walking = self.moving(t)
        bob = abs(math.sin(math.pi * self.stride_hz * t)) * 0.03 * ppm if walking else 0.0
        sway = math.sin(math.pi * self.stride_hz * t) * (0.025 if walking else 0.006) * ppm
        u, v = scene.uv(x, 0.0, z)
        scale = self.height_m * ppm / self.sprite.ref
        bgr, alpha, ax, ay = self.sprite.scaled(scale)
        soft_shadow(frame, u, v, 0.28 * ppm, 0.07 * ppm, 0.3 * op)
        paste(frame, bgr, alpha, u + sway - ax, v - bob - ay, op)


# ---------------------------------------------------------------------------------------------------
# Scene 2: fire-control room (operators behind a long console desk)
# ---------------------------------------------------------------------------------------------------
class ControlRoom:
    wall_floor_y = 250  # where the back wall meets the floor
    desk_top = (226, 246)  # desk top surface rows
    desk_front = (246, 336)
    seats = {"operator_astronaut": (205.0, 84.0, 0.30), "operator_suit": (452.0, 66.0, 0.235)}  # x centre, head top y, scale
    zone = [(0.0, 0.14), (1.0, 0.14), (1.0, 0.98), (0.0, 0.98)]  # the duty area: the room below the ceiling line

    def background(self, rng: np.random.Generator, corridor_thumb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(picture, desk mask): the desk is drawn again over the people sitting behind it."""
        import cv2

        img = np.zeros((H, W, 3), np.float32)
        # back wall and floor
        img[:] = texture(rng, (H, W), (204, 206, 196), 1.5, 2.0, 40)
        img[:30] = texture(rng, (30, W), (222, 224, 222), 1.0)  # ceiling strip
        img[28:30] = (150, 150, 150)
        floor = texture(rng, (H - self.wall_floor_y, W), (140, 132, 120), 3.0, 3.0, 20)
        img[self.wall_floor_y:] = floor
        for k in range(-12, 13):  # floor tile seams converging upwards
            x_far, x_near = W / 2 + k * 52, W / 2 + k * 110
            cv2.line(img, (int(x_far), self.wall_floor_y), (int(x_near), H), (118, 112, 102), 1, cv2.LINE_AA)
        for y in (270, 296, 330):
            cv2.line(img, (0, y), (W, y), (118, 112, 102), 1, cv2.LINE_AA)
        img[self.wall_floor_y - 6:self.wall_floor_y] = (110, 112, 110)  # skirting
        # left side wall in perspective with the monitor wall (3 x 2 screens showing corridor views)
        side = np.float32([[0, 0], [78, 30], [78, self.wall_floor_y], [0, H]])
        cv2.fillConvexPoly(img, np.round(side).astype(np.int32), (182, 186, 178), cv2.LINE_AA)
        for r in range(2):
            for c in range(3):
                v0, v1 = 70 + r * 62, 126 + r * 62
                ua, ub = 8 + c * 24, 28 + c * 24
                def yv(u: float, v: float) -> float:  # perspective on the side wall: rows fan out to the left
                    return v + (v - 150) * (78 - u) / 78 * 0.45
                quad = np.float32([[ua, yv(ua, v0)], [ub, yv(ub, v0)], [ub, yv(ub, v1)], [ua, yv(ua, v1)]])
                cv2.fillConvexPoly(img, np.round(quad).astype(np.int32), (40, 40, 40), cv2.LINE_AA)
                thumb = cv2.resize(corridor_thumb, (64, 36), interpolation=cv2.INTER_AREA)
                thumb = thumb * np.array((1.05, 0.95, 0.85), np.float32) * (0.75 + 0.1 * c)
                inner = quad + np.float32([[2, 2], [-2, 2], [-2, -2], [2, -2]])
                warp_tmp = np.zeros_like(img)
                m = cv2.getPerspectiveTransform(np.float32([[0, 0], [63, 0], [63, 35], [0, 35]]), inner)
                warp_tmp = cv2.warpPerspective(thumb.astype(np.float32), m, (W, H))
                msk = np.zeros((H, W), np.uint8)
                cv2.fillConvexPoly(msk, np.round(inner).astype(np.int32), 1)
                np.copyto(img, warp_tmp, where=msk[..., None] > 0)
        # fire alarm control panel (cream cabinet, display, LED rows) on the back wall, right
        cv2.rectangle(img, (520, 52), (616, 196), (196, 214, 222), -1)
        cv2.rectangle(img, (520, 52), (616, 196), (120, 130, 130), 2)
        cv2.rectangle(img, (532, 64), (604, 92), (70, 90, 60), -1)  # LCD
        for i in range(8):
            for j in range(4):
                colour = (40, 170, 40) if (i + j) % 5 else (40, 60, 200)
                cv2.circle(img, (536 + i * 9, 108 + j * 12), 2, colour, -1, cv2.LINE_AA)
        cv2.rectangle(img, (532, 160), (604, 184), (140, 150, 150), -1)
        # room sign and a duty roster board
        plate = np.empty((22, 126, 3), np.uint8)
        plate[:] = (120, 60, 20)
        cv2.putText(plate, "FIRE CONTROL ROOM", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (235, 235, 235), 1, cv2.LINE_AA)
        img[40:62, 262:388] = plate
        cv2.rectangle(img, (112, 50), (220, 118), (236, 238, 238), -1)
        cv2.rectangle(img, (112, 50), (220, 118), (90, 90, 90), 2)
        for y in range(62, 112, 9):
            cv2.line(img, (120, y), (212, y), (150, 150, 150), 1)
        cv2.circle(img, (470, 78), 15, (236, 238, 238), -1, cv2.LINE_AA)  # wall clock
        cv2.circle(img, (470, 78), 15, (60, 60, 60), 2, cv2.LINE_AA)
        cv2.line(img, (470, 78), (470, 68), (30, 30, 30), 2, cv2.LINE_AA)
        cv2.line(img, (470, 78), (477, 81), (30, 30, 30), 2, cv2.LINE_AA)
        # the operators' chair backs (seen again when the chairs are empty)
        for cx, _, _ in self.seats.values():
            cv2.rectangle(img, (int(cx - 38), 150), (int(cx + 38), 232), (58, 58, 62), -1, cv2.LINE_AA)
            cv2.rectangle(img, (int(cx - 38), 150), (int(cx + 38), 232), (40, 40, 44), 2, cv2.LINE_AA)
        # the long console desk (spans the room, so the people's legs are never seen)
        desk = np.zeros((H, W), np.uint8)
        t0, t1 = self.desk_top
        f0, f1 = self.desk_front
        top_quad = np.int32([[-40, t0], [W + 40, t0], [W + 40, t1], [-40, t1]])
        cv2.fillConvexPoly(img, top_quad, (178, 184, 186), cv2.LINE_AA)
        cv2.fillConvexPoly(desk, top_quad, 1)
        img[t0:t0 + 2] = (205, 210, 212)
        img[f0:f1] = texture(rng, (f1 - f0, W), (112, 118, 122), 2.0)
        desk[f0:f1] = 1
        for x in range(40, W, 150):
            img[f0:f1, x:x + 2] = (80, 84, 86)
        img[f1 - 4:f1] = (70, 72, 74)
        # things on the desk: keyboards, a phone, a logbook
        for x0, x1 in ((160, 250), (404, 494)):
            cv2.rectangle(img, (x0, t0 + 6), (x1, t1 - 4), (62, 62, 64), -1, cv2.LINE_AA)
            cv2.rectangle(img, (x0 + 2, t0 + 8), (x1 - 2, t1 - 7), (84, 84, 86), 1)
        cv2.rectangle(img, (560, t0 + 4), (590, t1 - 3), (40, 40, 180), -1, cv2.LINE_AA)
        cv2.rectangle(img, (90, t0 + 5), (132, t1 - 3), (230, 232, 232), -1, cv2.LINE_AA)
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        r2 = ((xx - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2
        img *= (1.0 - 0.14 * r2)[..., None]
        return np.clip(img, 0, 255), desk


@dataclass
class Operator:
    """A person behind the desk: sits (alive: sways, leans), may stand up and walk out sideways."""

    sprite: Sprite
    x: float
    head_y: float
    scale: float
    wobble_x: Callable[[float], float]
    wobble_y: Callable[[float], float]
    leave_at: float | None = None  # starts standing up
    exit_dir: int = -1  # walks out to the left (-1) or right (+1)

    def draw(self, frame: np.ndarray, t: float) -> None:
        x, y = self.x + 3.0 * self.wobble_x(t), self.head_y + 1.5 * self.wobble_y(t)
        if self.leave_at is not None and t >= self.leave_at:
            dt = t - self.leave_at
            y -= 26.0 * min(1.0, dt / 0.8)  # stands up
            if dt > 0.8:
                walk = dt - 0.8
                x += self.exit_dir * 185.0 * walk  # walks out behind the desk
                y += abs(math.sin(math.pi * 1.8 * walk)) * 3.0
            if x < -150 or x > W + 150:
                return
        bgr, alpha, _, _ = self.sprite.scaled(self.scale)
        paste(frame, bgr, alpha, x - bgr.shape[1] / 2, y - self.sprite.head_y * self.scale)


