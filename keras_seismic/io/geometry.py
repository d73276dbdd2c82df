"""Where the traces were recorded: source and receiver positions from SEG-Y trace headers.

Conventions (the SEG-Y standard's; every header value has its scalar applied:
SourceGroupScalar for x and y, ElevationScalar for depths and elevations, each negative =
divide, positive = multiply, 0 = 1):

* x, y: SourceX, SourceY (the source) and GroupX, GroupY (the receiver), in metres (feet,
  converted, when the binary header's MeasurementSystem is 2).
* depth z below the datum (elevation 0), positive down:

  - ``elevation="elevation"`` (the standard): source z = SourceDepth -
    SourceSurfaceElevation (a depth below a surface that has an elevation), receiver z =
    -ReceiverGroupElevation;
  - ``elevation="depth"``, for writers that store depths as positive numbers in the
    elevation fields (JUDI does): source z = SourceDepth + SourceSurfaceElevation,
    receiver z = +ReceiverGroupElevation.

* 2-D (``ndim=2``): positions are (x, z). When SourceY or GroupY are not all zero (a
  crooked line in map coordinates), x is the distance along the straight line that best
  fits all sources and receivers, from its first point, and the map (x, y) are kept.
"""
import numpy as np
import segyio

from .. import checks
from .segy import apply_scalar

__all__ = ["FIELDS", "unit_factor", "horizontal", "depths", "project_line", "check_usable",
           "warn_misplaced"]

_TF = segyio.TraceField
_FEET = 0.3048
FIELDS = [_TF.SourceX, _TF.SourceY, _TF.GroupX, _TF.GroupY, _TF.SourceGroupScalar,
          _TF.SourceDepth, _TF.SourceSurfaceElevation, _TF.ReceiverGroupElevation,
          _TF.ElevationScalar, _TF.CoordinateUnits, _TF.offset]
_DEPTH_RULES = {
    "elevation": ("SourceDepth - SourceSurfaceElevation", "-ReceiverGroupElevation"),
    "depth": ("SourceDepth + SourceSurfaceElevation", "+ReceiverGroupElevation"),
}
# A 2-D line whose points stray from its best straight line by more than this fraction
# of its length is an areal (3-D) spread, not a crooked line.
_AREAL = 0.1
_ANGLES = {2: "seconds of arc", 3: "decimal degrees", 4: "degrees, minutes, seconds"}


def unit_factor(path, measurement):
    """Metres a header length unit: 0.3048 (with a warning) for MeasurementSystem 2,
    feet; else 1."""
    if measurement == 2:
        checks.warn(f"{path}: the binary header's MeasurementSystem is 2 (feet): "
                    f"positions converted to metres")
        return _FEET
    return 1.0


def horizontal(path, h, factor):
    """``(sx, sy, gx, gy)`` in metres from the headers ``h`` ({field: (ntraces,)}),
    header lengths times ``factor`` (:func:`unit_factor`)."""
    units = set(np.unique(h[_TF.CoordinateUnits]).tolist()) & set(_ANGLES)
    if units:
        raise ValueError(f"{path}: the coordinates are geographic (CoordinateUnits = "
                         f"{min(units)}: {_ANGLES[min(units)]}); project them to metres "
                         f"(e.g. UTM) first, or pass sources= and receivers= in metres")
    scalar = h[_TF.SourceGroupScalar]
    return tuple(factor * apply_scalar(h[f], scalar)
                 for f in (_TF.SourceX, _TF.SourceY, _TF.GroupX, _TF.GroupY))


def depths(path, h, factor, elevation):
    """``(sz, gz)``: source and receiver depths below the datum in metres (positive
    down) under the ``elevation`` convention of the module docstring."""
    if elevation not in _DEPTH_RULES:
        raise ValueError(f"{path}: elevation must be 'elevation' (SEG-Y: elevations positive "
                         f"up) or 'depth' (depths stored in the elevation fields, as JUDI "
                         f"writes them); got {elevation!r}")
    scalar = h[_TF.ElevationScalar]
    depth, surface, group = (factor * apply_scalar(h[f], scalar) for f in
                             (_TF.SourceDepth, _TF.SourceSurfaceElevation,
                              _TF.ReceiverGroupElevation))
    sign = -1.0 if elevation == "elevation" else 1.0
    return depth + sign * surface, sign * group


def check_usable(path, what, x, y, npoints):
    """ValueError if positions of ``npoints`` > 1 points carry no information: every
    x and y header zero. ``what`` is ("sources", "SourceX", "SourceY") or the receivers'."""
    kind, xname, yname = what
    if npoints > 1 and not np.any(x) and not np.any(y):
        raise ValueError(
            f"{path}: the file has no usable {kind[:-1]} coordinates: {xname} and {yname} are "
            f"0 in every trace. Pass the geometry yourself: read_shots(..., sources=(nshots, "
            f"ndim) array, receivers=(nrec, ndim) or (nshots, nrec, ndim) array, in metres), "
            f"or receivers='offset' to place each receiver at its source's x plus the "
            f"trace's offset header")


def project_line(path, sources_xy, receivers_xy):
    """Project map positions onto the straight line that best fits them all.

    Args:
        path: the file, for the message.
        sources_xy: float64 ``(n, 2)`` map (x, y) of the sources.
        receivers_xy: float64 ``(m, 2)`` map (x, y) of the receivers.

    Returns:
        ``(sources_x, receivers_x)``: distances in metres along the line (least squares
        in both coordinates, the principal axis), from its first point, oriented towards
        increasing map x (increasing y for a north-south line). A warning reports the
        line and the largest distance of a point off it; ValueError if that is more than
        a tenth of the line's length (an areal spread: read it in 3-D).
    """
    points = np.concatenate([sources_xy, receivers_xy])
    centre = points.mean(axis=0)
    _, _, axes = np.linalg.svd(points - centre, full_matrices=False)
    direction = axes[0] if (axes[0][0], axes[0][1]) > (0.0, 0.0) else -axes[0]
    along = (points - centre) @ direction
    off = np.abs((points - centre) @ np.array([-direction[1], direction[0]]))
    start, length = along.min(), np.ptp(along)
    if off.max() > _AREAL * length:
        raise ValueError(f"{path}: SourceY/GroupY spread the positions over an area, not a "
                         f"line: up to {off.max():.1f} m off the best-fitting straight line, "
                         f"which is {length:.1f} m long; read the file with ndim=3")
    first = centre + start * direction
    azimuth = np.degrees(np.arctan2(direction[0], direction[1])) % 360.0
    checks.warn(f"{path}: SourceY/GroupY are not all 0, so for ndim=2 the positions are "
                f"projected onto the best-fitting straight line, from ({first[0]:.1f}, "
                f"{first[1]:.1f}) at azimuth {azimuth:.1f} degrees; x is the distance "
                f"along it. The largest distance off the line is {off.max():.2f} m. The "
                f"map coordinates stay in survey.coordinates (write_shots writes them)")
    x = along - start
    return x[:len(sources_xy)], x[len(sources_xy):]


def warn_misplaced(path, sources, receivers, mask, elevation, grid=None):
    """Warn about sources or receivers above the datum (z < 0) or, given the model's
    ``grid``, outside it, naming the header fields and the option that place them.

    Args:
        sources: ``(nshots, ndim)``; receivers: ``(nshots, nrec, ndim)``; mask: bool
            ``(nshots, nrec)`` of the live receivers; elevation: the convention used.
    """
    rules = dict(zip(("sources", "receivers"), _DEPTH_RULES[elevation]))
    other = "depth" if elevation == "elevation" else "elevation"
    points = {"sources": sources, "receivers": receivers[mask]}
    for kind, p in points.items():
        above = p[:, -1] < 0
        if above.any():
            checks.warn(
                f"{path}: {int(above.sum())} of the {len(p)} {kind} lie above the datum "
                f"(z < 0, the highest at z = {p[:, -1].min():.2f} m); their depth is "
                f"{rules[kind]} (ElevationScalar applied). If the file stores depths in the "
                f"elevation fields with the other sign, read it with elevation={other!r}")
    if grid is None:
        return
    low = np.asarray(grid.origin, dtype=np.float64)
    high = low + (np.asarray(grid.shape) - 1) * np.asarray(grid.spacing)
    for kind, p in points.items():
        outside = np.any((p < low - 1e-6) | (p > high + 1e-6), axis=-1)
        if outside.any():
            bad = p[outside][0]
            checks.warn(
                f"{path}: {int(outside.sum())} of the {len(p)} {kind} lie outside the model "
                f"(from {_point(low)} to {_point(high)} m), e.g. at {_point(bad)}; check "
                f"the coordinates (SourceX/GroupX, and the depth {rules[kind]}), the "
                f"elevation= option, or the grid's origin")


def _point(p):
    return "(" + ", ".join(f"{v:g}" for v in p) + ")"
