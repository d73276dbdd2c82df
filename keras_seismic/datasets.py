"""Built-in synthetic velocity models, starting-model helpers and a default surface survey.

Everything here is generated in code (no data files). Velocities are float32 arrays in m/s
of shape ``grid.shape``, with axis order (x, z) in 2-D and (x, y, z) in 3-D (depth last).
"""
import numbers
import types

import numpy as np
from scipy import ndimage

from . import checks
from .grid import Grid
from .survey import Survey
from .wavelets import ricker

__all__ = ["layered", "camembert", "faulted", "faulted_tti", "faulted_visco", "smooth",
           "water_mask", "gardner", "surface_survey", "WATER_VELOCITY", "SALT_VELOCITY"]

#: Velocity of sea water used by the built-in models, m/s.
WATER_VELOCITY = 1500.0
#: Velocity of the salt body of :func:`faulted`, m/s.
SALT_VELOCITY = 4500.0
# Sediment velocities of :func:`faulted` lie in this range (m/s).
_SEDIMENT_RANGE = (1600.0, 4000.0)
# A cell belongs to the water layer if its velocity is this close to the water velocity.
_WATER_TOLERANCE = 1.0


# ----------------------------------------------------------------------------- helpers

def _make_grid(name, shape, spacing, ndims):
    """Validated Grid for the model function ``name``; ``spacing`` may be a scalar."""
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"{name}: shape must be a tuple of grid points such as (nx, nz); "
                         f"got {shape!r}") from None
    if len(shape) not in ndims:
        allowed = " or ".join({2: "(nx, nz)", 3: "(nx, ny, nz)"}[d] for d in ndims)
        raise ValueError(f"{name}: shape must be {allowed}; got {shape}")
    if any(not isinstance(n, numbers.Integral) and not (isinstance(n, float) and n.is_integer())
           for n in shape):
        raise ValueError(f"{name}: shape must contain whole numbers of grid points; got {shape}")
    if np.ndim(spacing) == 0:
        spacing = (spacing,) * len(shape)
    spacing = tuple(spacing)
    if len(spacing) != len(shape):
        raise ValueError(f"{name}: spacing must be one length or {len(shape)} lengths in metres "
                         f"for a {len(shape)}-D shape {shape}; got {spacing}")
    try:
        return Grid(shape=tuple(int(n) for n in shape), spacing=spacing)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


def _coordinates(grid):
    """Coordinates relative to the grid origin, one float64 array per axis, each of
    ``grid.shape`` (metres)."""
    axes = [np.arange(n) * h for n, h in zip(grid.shape, grid.spacing)]
    return np.meshgrid(*axes, indexing="ij")


def _velocity_array(name, vp):
    vp = np.asarray(vp)
    if vp.ndim not in (2, 3):
        raise ValueError(f"{name}: vp must be a 2-D (nx, nz) or 3-D (nx, ny, nz) array; got "
                         f"shape {vp.shape}")
    if not np.issubdtype(vp.dtype, np.number):
        raise ValueError(f"{name}: vp must be numeric; got dtype {vp.dtype}")
    if not np.all(np.isfinite(vp)):
        raise ValueError(f"{name}: vp contains NaN or infinite values")
    return vp.astype(np.float64)


# ----------------------------------------------------------------------------- models

def layered(shape=(201, 101), spacing=10.0, velocities=(1500.0, 2000.0, 2500.0, 3000.0),
            water_depth=None):
    """Horizontally layered model.

    The depth below the (optional) water layer is split into ``len(velocities)`` layers of
    equal thickness (to the nearest grid cell), the first velocity at the top.

    Args:
        shape: grid points ``(nx, nz)`` or ``(nx, ny, nz)``, each >= 3.
        spacing: grid spacing in metres, one number for all axes or one per axis.
            Defaults to 10 m.
        velocities: layer velocities in m/s from top to bottom, each > 0.
        water_depth: thickness in metres of a water layer of 1500 m/s on top, or None for
            no water. Cells at depths ``< water_depth`` below the top are water.

    Returns:
        ``(grid, vp)``: a :class:`keras_seismic.grid.Grid` with origin 0 and the float32
        velocity in m/s of shape ``grid.shape``.

    Example:
        >>> grid, vp = layered(shape=(101, 51), velocities=(1500., 2500.))
        >>> vp.shape, float(vp[0, 0]), float(vp[0, -1])
        ((101, 51), 1500.0, 2500.0)
    """
    grid = _make_grid("layered", shape, spacing, (2, 3))
    try:
        velocities = np.asarray(velocities, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"layered: velocities must be numbers in m/s; got {velocities!r}") \
            from None
    if velocities.size == 0 or not np.all(np.isfinite(velocities) & (velocities > 0)):
        raise ValueError(f"layered: velocities must be one or more positive finite values in "
                         f"m/s; got {velocities.tolist()}")
    nz, dz = grid.shape[-1], grid.spacing[-1]
    depth = np.arange(nz) * dz
    top = 0
    if water_depth is not None:
        try:
            water_depth = float(water_depth)
        except (TypeError, ValueError):
            raise ValueError(f"layered: water_depth must be a number of metres or None; got "
                             f"{water_depth!r}") from None
        if not (np.isfinite(water_depth) and water_depth >= 0):
            raise ValueError(f"layered: water_depth must be >= 0 metres; got {water_depth}")
        top = int(np.searchsorted(depth, water_depth - 1e-9 * dz, side="left"))
        if top >= nz:
            raise ValueError(f"layered: water_depth={water_depth} m leaves no room for the "
                             f"layers; the grid is {grid.extent[-1]} m deep")
    nrock = nz - top
    if velocities.size > nrock:
        raise ValueError(f"layered: {velocities.size} layers do not fit in the {nrock} grid "
                         f"cells below the water; use fewer layers or a finer grid")
    profile = np.full(nz, WATER_VELOCITY)
    profile[top:] = velocities[(np.arange(nrock) * velocities.size) // nrock]
    vp = np.broadcast_to(profile, grid.shape).astype(np.float32)
    return grid, vp


def camembert(shape=(101, 101), spacing=10.0, background=2500.0, inclusion=3000.0,
              radius=None):
    """Constant background with a circular (2-D) or spherical (3-D) inclusion in the middle.

    Args:
        shape: grid points ``(nx, nz)`` or ``(nx, ny, nz)``, each >= 3.
        spacing: grid spacing in metres, one number for all axes or one per axis.
            Defaults to 10 m.
        background: velocity outside the inclusion, m/s.
        inclusion: velocity inside the inclusion, m/s.
        radius: radius of the inclusion in metres. Defaults to a quarter of the smallest
            extent of the grid.

    Returns:
        ``(grid, vp)``: the grid (origin 0) and the float32 velocity in m/s of
        ``grid.shape``. Cells whose centre lies within ``radius`` of the grid's centre
        have the ``inclusion`` velocity.

    Example:
        >>> grid, vp = camembert(shape=(101, 101), radius=200.0)
        >>> float(vp[50, 50]), float(vp[0, 0])
        (3000.0, 2500.0)
    """
    grid = _make_grid("camembert", shape, spacing, (2, 3))
    background = checks.number(background, "camembert: background velocity (m/s)", low=0)
    inclusion = checks.number(inclusion, "camembert: inclusion velocity (m/s)", low=0)
    radius = (0.25 * min(grid.extent) if radius is None
              else checks.number(radius, "camembert: radius (metres)", low=0))
    coords = _coordinates(grid)
    dist2 = sum((c - 0.5 * e) ** 2 for c, e in zip(coords, grid.extent))
    vp = np.where(dist2 <= radius ** 2 * (1 + 1e-12), inclusion, background)
    return grid, vp.astype(np.float32)


def faulted(shape=(301, 121), spacing=10.0, seed=0, nfaults=None):
    """A Marmousi-like section: water, folded and faulted sediments and a salt body.

    From top to bottom: a water layer of 1500 m/s about 10% of the depth thick with a
    gently sloping sea floor; sedimentary layers of constant velocity (about 1600 m/s at
    the top to 4000 m/s at the bottom) that dip and undulate; one or two normal faults
    (dip 55-70 degrees) whose hanging walls have slid down along the fault plane by 4-8% of
    the depth, offsetting the layers; and a salt dome of 4500 m/s with a smooth, irregular
    top, in the right part of the section, that arches the layers above it. The structure
    scales with the extent of the grid, so different resolutions of the same extent look
    alike.

    Args:
        shape: grid points ``(nx, nz)``, each >= 20. A 3-D shape ``(nx, ny, nz)`` extrudes
            the 2-D section along y.
        spacing: grid spacing in metres, one number for all axes or one per axis.
            Defaults to 10 m.
        seed: integer seed; the same seed and shape always give the same model.
        nfaults: number of faults, 0, 1 or 2. Defaults to 1 or 2 as drawn from ``seed``.
            Everything else in the model does not depend on ``nfaults``.

    Returns:
        ``(grid, vp)``: the grid (origin 0) and the float32 velocity in m/s of
        ``grid.shape``.

    Example:
        >>> grid, vp = faulted(shape=(301, 121), seed=1)
        >>> float(vp[0, 0]), float(vp.max())
        (1500.0, 4500.0)
    """
    grid, (vp, _) = _faulted("faulted", shape, spacing, seed, nfaults)
    return grid, vp


def _faulted(name, shape, spacing, seed, nfaults):
    """The grid of :func:`faulted` and float32 ``(vp, stratigraphic depth)`` on it."""
    grid = _make_grid(name, shape, spacing, (2, 3))
    nx, nz = grid.shape[0], grid.shape[-1]
    if nx < 20 or nz < 20:
        raise ValueError(f"{name}: the model needs at least 20 grid points along x and z to "
                         f"hold its structures; got shape {grid.shape}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{name}: seed must be a non-negative integer; got {seed!r}")
    if nfaults is not None and (isinstance(nfaults, bool) or nfaults not in (0, 1, 2)):
        raise ValueError(f"{name}: nfaults must be 0, 1, 2 or None; got {nfaults!r}")
    sections = _faulted_section(nx, nz, grid.spacing[0], grid.spacing[-1], int(seed),
                                nfaults)
    if grid.ndim == 3:
        sections = [np.repeat(f[:, None, :], grid.shape[1], axis=1) for f in sections]
    return grid, [f.astype(np.float32) for f in sections]


def faulted_tti(shape=(301, 121), spacing=10.0, seed=0, nfaults=None):
    """The :func:`faulted` section as a TTI medium whose anisotropy follows the layers.

    The symmetry axis is normal to the bedding everywhere in the sediments (``theta`` is
    the layers' dip; a median over 5 cells keeps the fault planes out of it), and the
    anisotropy grows with the sediments' velocity, from ``epsilon = 0.05`` at 1600 m/s to
    0.2 at 4000 m/s, with ``delta = epsilon / 2``. Water and salt are isotropic, so a
    source in the water excites no shear artefact (see ``keras_seismic.physics.tti``).
    In 3-D the section is extruded along y and the axis stays in the x-z plane
    (``phi = 0``).

    Args:
        shape, spacing, seed, nfaults: as for :func:`faulted`.

    Returns:
        ``(grid, model)``: the grid and a dict of float32 fields of ``grid.shape``:
        ``vp`` (m/s, along the symmetry axis), ``epsilon``, ``delta`` and ``theta``
        (radians), and in 3-D ``phi`` (radians): the model of ``physics="tti"``.

    Example:
        >>> grid, model = faulted_tti(shape=(301, 121), seed=1)
        >>> sorted(model)
        ['delta', 'epsilon', 'theta', 'vp']
    """
    grid, (vp, strat) = _faulted("faulted_tti", shape, spacing, seed, nfaults)
    spacing = grid.spacing
    # The bedding's normal is the gradient of the depth at which each point was deposited;
    # the median drops the faults, across which that depth jumps.
    slope = np.gradient(strat.astype(np.float64), *spacing)
    theta = ndimage.median_filter(np.arctan2(slope[0], slope[-1]), size=5)
    low, high = _SEDIMENT_RANGE
    sediment = (vp > WATER_VELOCITY) & (vp < SALT_VELOCITY)
    epsilon = np.where(sediment, 0.05 + 0.15 * (vp - low) / (high - low), 0.0)
    model = {"vp": vp, "epsilon": epsilon, "delta": 0.5 * epsilon,
             "theta": np.where(sediment, theta, 0.0)}
    if grid.ndim == 3:
        model["phi"] = np.zeros(grid.shape)
    return grid, {k: v.astype(np.float32) for k, v in model.items()}


def faulted_visco(shape=(301, 121), spacing=10.0, seed=0, nfaults=None, gas_q=20.0):
    """The :func:`faulted` section with attenuation, and a low-Q zone (a gas cloud).

    The quality factor grows with the sediments' velocity, from 40 at 1600 m/s to 160 at
    4000 m/s; water has Q = 10000 and salt Q = 500. A gas cloud, an ellipse a fifth of
    the section wide and an eighth of its depth high centred at 35% of its width and 40%
    of its depth, has ``gas_q``, with a smooth rim.

    Args:
        shape, spacing, seed, nfaults: as for :func:`faulted`.
        gas_q: the quality factor in the gas cloud (> 1).

    Returns:
        ``(grid, model)``: the grid and a dict of float32 fields of ``grid.shape``, ``vp``
        (m/s) and ``qp`` (dimensionless): the model of ``physics="visco-acoustic"``.

    Example:
        >>> grid, model = faulted_visco(shape=(301, 121), seed=1)
        >>> round(float(model["qp"].min()))
        20
    """
    gas_q = checks.number(gas_q, "faulted_visco: gas_q", low=1.0)
    grid, (vp, _) = _faulted("faulted_visco", shape, spacing, seed, nfaults)
    low, high = _SEDIMENT_RANGE
    qp = np.where(vp <= WATER_VELOCITY, 1e4, np.where(
        vp >= SALT_VELOCITY, 500.0, 40.0 + 120.0 * np.clip((vp - low) / (high - low), 0, 1)))
    coordinates = _coordinates(grid)
    x, z = coordinates[0] / grid.extent[0], coordinates[-1] / grid.extent[-1]
    distance = np.hypot((x - 0.35) / 0.1, (z - 0.4) / 0.0625)
    inside = np.clip(1.5 - distance, 0.0, 1.0)  # 1 inside, a ramp over the rim
    qp = np.exp((1 - inside) * np.log(qp) + inside * np.log(gas_q))
    return grid, {"vp": vp, "qp": qp.astype(np.float32)}


def _faulted_section(nx, nz, dx, dz, seed, nfaults):
    """The 2-D (nx, nz) section of :func:`faulted` and the depth at which each point was
    deposited, float64."""
    lx, lz = (nx - 1) * dx, (nz - 1) * dz
    x = np.arange(nx) * dx
    xx, zz = np.meshgrid(x, np.arange(nz) * dz, indexing="ij")
    d = _faulted_draws(np.random.default_rng(seed), lx, lz, dz)
    strat = _stratigraphic_depth(d, xx, zz, lx, lz, d.nfaults if nfaults is None else nfaults)

    seafloor = (0.1 * lz + d.seafloor_slope * (x / lx - 0.5)
                + d.seafloor_wave[1] * np.sin(2 * np.pi * x / d.seafloor_wave[0]
                                              + d.seafloor_wave[2]))
    water = zz < np.maximum(seafloor, 2.5 * dz)[:, None]
    # The stack of layers spans the unfaulted section plus what the faults can bring up,
    # whatever nfaults is, so that the layers do not depend on nfaults.
    vp = _layers(d, strat, _stratigraphic_depth(d, xx, zz, lx, lz, 0)[~water], dz)
    vp[_salt(d, x, zz)] = SALT_VELOCITY
    vp[water] = WATER_VELOCITY
    return vp, strat


def _faulted_draws(rng, lx, lz, dz):
    """Every random number of a faulted section, drawn in a fixed order, so that the model
    depends only on the seed (and on nfaults only through which faults are used)."""
    d = types.SimpleNamespace(nfaults=int(rng.integers(1, 3)), faults=[])
    for lo, hi in ((0.15, 0.28), (0.33, 0.45)):
        d.faults.append(dict(x_mid=rng.uniform(lo, hi) * lx,        # x at 55% of the depth
                             dip=np.deg2rad(rng.uniform(55.0, 70.0)),
                             side=rng.choice([-1.0, 1.0]),           # dips towards +x or -x
                             throw=max(rng.uniform(0.04, 0.08) * lz, 3.0 * dz)))
    d.nlayers = int(rng.integers(9, 14))
    d.thickness = rng.uniform(0.6, 1.4, size=16)
    d.jitter = rng.uniform(-0.35, 0.35, size=16)
    d.tilt = rng.uniform(-0.12, 0.12) * lz
    d.folds = [(rng.uniform(0.35, 1.2) * lx, rng.uniform(0.01, 0.035) * lz,
                rng.uniform(0.0, 2.0 * np.pi)) for _ in range(3)]
    d.seafloor_slope = rng.uniform(-0.02, 0.02) * lz
    d.seafloor_wave = (rng.uniform(0.5, 1.5) * lx, rng.uniform(0.0, 0.01) * lz,
                       rng.uniform(0.0, 2.0 * np.pi))
    d.salt_x = rng.uniform(0.64, 0.8) * lx
    d.salt_halfwidth = rng.uniform(0.1, 0.15) * lx
    d.salt_crest = rng.uniform(0.4, 0.5) * lz
    d.salt_base = rng.uniform(0.82, 0.92) * lz
    d.salt_top_waves = [(rng.uniform(0.05, 0.15) * lx, rng.uniform(0.01, 0.025) * lz,
                         rng.uniform(0.0, 2.0 * np.pi)) for _ in range(3)]
    d.salt_base_wave = (rng.uniform(0.2, 0.4) * lx, rng.uniform(0.005, 0.015) * lz,
                        rng.uniform(0.0, 2.0 * np.pi))
    d.arch = rng.uniform(0.04, 0.07) * lz
    return d


def _stratigraphic_depth(d, xx, zz, lx, lz, nused):
    """Depth at which each point was deposited, after undoing (youngest first) the arch
    over the salt, ``nused`` faults and the folding of the draws ``d``."""
    # The salt arches the layers up (it came last). Arched depth z = z_pre - lift.
    lift = d.arch * np.clip(zz / d.salt_crest, 0.0, 1.0) * np.exp(
        -(((xx - d.salt_x) / (1.6 * d.salt_halfwidth)) ** 2))
    xs, zs = xx, zz + lift
    # Normal faults: a hanging-wall point is moved back up the fault plane.
    for fault in d.faults[:nused][::-1]:
        run = 1.0 / np.tan(fault["dip"])               # horizontal metres per metre depth
        plane_x = fault["x_mid"] + fault["side"] * (zs - 0.55 * lz) * run
        hanging = fault["side"] * (xs - plane_x) > 0
        zs = np.where(hanging, zs - fault["throw"], zs)
        xs = np.where(hanging, xs - fault["side"] * fault["throw"] * run, xs)
    # Folding: a regional tilt and undulations that grow with depth. A layer deposited at
    # depth s now lies at z = s + fold(x, z).
    fold = d.tilt * xs / lx
    for wavelength, amplitude, phase in d.folds:
        fold = fold + amplitude * (0.3 + 0.7 * zs / lz) * np.sin(
            2 * np.pi * xs / wavelength + phase)
    return zs - fold


def _layers(d, strat, unfaulted, dz):
    """The sediments' velocity at stratigraphic depths ``strat``: layers at least about 4
    cells thick, spanning ``unfaulted`` (the depths below the water without the faults)
    and what the faults can bring up."""
    s_lo = unfaulted.min() - sum(fault["throw"] for fault in d.faults)
    s_hi = unfaulted.max()
    nlayers = int(np.clip(d.nlayers, 3, max(3, (s_hi - s_lo) / (4.0 * dz))))
    bounds = np.cumsum(d.thickness[:nlayers])
    bounds = s_lo + (s_hi - s_lo) * bounds[:-1] / bounds[-1]
    vmin, vmax = _SEDIMENT_RANGE
    step = (vmax - vmin) / max(nlayers - 1, 1)
    velocities = vmin + step * (np.arange(nlayers) + d.jitter[:nlayers])
    velocities[0], velocities[-1] = vmin, vmax
    velocities = np.round(np.clip(velocities, vmin, vmax))
    return velocities[np.searchsorted(bounds, strat, side="right")]


def _salt(d, x, zz):
    """Where the salt is: a dome between an irregular top and a gently undulating base."""
    base = d.salt_base + d.salt_base_wave[1] * np.sin(2 * np.pi * x / d.salt_base_wave[0]
                                                      + d.salt_base_wave[2])
    r = (x - d.salt_x) / d.salt_halfwidth
    height = np.clip(1.0 - r ** 2, 0.0, None) ** 0.8
    bumps = sum(a * np.sin(2 * np.pi * x / w + p) for w, a, p in d.salt_top_waves)
    top = base - (base - d.salt_crest) * height + bumps * height
    return (height[:, None] > 0) & (zz > top[:, None]) & (zz < base[:, None])


# ----------------------------------------------------------------------------- helpers for FWI

def water_mask(vp, water_velocity=WATER_VELOCITY):
    """Mask of the water layer on top of a model, e.g. to freeze it during inversion.

    Water cells are those whose velocity is within 1 m/s of ``water_velocity`` and which are
    connected (through faces of cells) to the top row (z index 0). Water-velocity cells
    elsewhere in the model are not masked.

    Args:
        vp: velocity in m/s, ``(nx, nz)`` or ``(nx, ny, nz)``.
        water_velocity: velocity of water in m/s.

    Returns:
        float32 array of ``vp.shape``: 0 in the water layer, 1 elsewhere.

    Example:
        >>> grid, vp = layered(water_depth=200.0)
        >>> mask = water_mask(vp)
        >>> float(mask[0, 0]), float(mask[0, -1])
        (0.0, 1.0)
    """
    vp = _velocity_array("water_mask", vp)
    water_velocity = checks.number(water_velocity, "water_mask: water_velocity (m/s)", low=0)
    is_water = np.abs(vp - water_velocity) <= _WATER_TOLERANCE
    labels, _ = ndimage.label(is_water)
    top_labels = np.unique(labels[..., 0])
    water = np.isin(labels, top_labels[top_labels > 0])
    return np.where(water, 0.0, 1.0).astype(np.float32)


#: Density of sea water (kg/m^3).
WATER_DENSITY = 1000.0


def gardner(vp, water_velocity=None):
    """Density from velocity by Gardner's relation, ``rho = 310 vp^0.25`` (kg/m^3, vp in
    m/s), for sediments; the water layer on top (see :func:`water_mask`), if
    ``water_velocity`` is given, gets the density of water instead (the relation would
    give 1930 kg/m^3 there).

    Args:
        vp: velocity in m/s, ``(nx, nz)`` or ``(nx, ny, nz)``.
        water_velocity: velocity of the water layer in m/s, or None (no water layer).

    Returns:
        float32 density in kg/m^3, ``vp.shape``.

    Example:
        >>> grid, vp = layered(water_depth=200.0)
        >>> rho = gardner(vp, water_velocity=1500.0)
        >>> float(rho[0, 0]), round(float(rho[0, -1]))
        (1000.0, 2294)
    """
    vp = _velocity_array("gardner", vp)
    rho = 310.0 * vp.astype(np.float64) ** 0.25
    if water_velocity is not None:
        rho = np.where(water_mask(vp, water_velocity) == 0, WATER_DENSITY, rho)
    return rho.astype(np.float32)


def smooth(vp, sigma, grid=None, water_velocity=None):
    """Gaussian-smoothed copy of a model, e.g. a starting model for FWI.

    Args:
        vp: velocity in m/s, ``(nx, nz)`` or ``(nx, ny, nz)``.
        sigma: standard deviation of the Gaussian, one value or one per axis; in metres if
            ``grid`` is given, else in grid cells. 0 means no smoothing along that axis.
        grid: the :class:`keras_seismic.grid.Grid` of ``vp`` (its shape must match), used to
            convert ``sigma`` from metres to cells.
        water_velocity: if given (m/s), the water layer on top (see :func:`water_mask`) keeps
            its original velocity, so the sea floor stays sharp.

    Returns:
        float32 array of ``vp.shape`` in m/s. The edges are extended by the nearest value.

    Example:
        >>> grid, vp = faulted()
        >>> vp0 = smooth(vp, sigma=150.0, grid=grid, water_velocity=1500.0)
        >>> vp0.shape == vp.shape
        True
    """
    vp = _velocity_array("smooth", vp)
    try:
        sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (vp.ndim,)).copy()
    except (TypeError, ValueError):
        raise ValueError(f"smooth: sigma must be one number or {vp.ndim} numbers; got "
                         f"{sigma!r}") from None
    if not np.all(np.isfinite(sigma) & (sigma >= 0)):
        raise ValueError(f"smooth: sigma must be >= 0 and finite; got {sigma.tolist()}")
    if grid is not None:
        if not isinstance(grid, Grid):
            raise ValueError(f"smooth: grid must be a keras_seismic Grid or None; got "
                             f"{type(grid).__name__}")
        if tuple(grid.shape) != vp.shape:
            raise ValueError(f"smooth: vp has shape {vp.shape} but the grid has shape "
                             f"{grid.shape}")
        sigma = sigma / np.asarray(grid.spacing)
    out = ndimage.gaussian_filter(vp, sigma=tuple(sigma), mode="nearest")
    if water_velocity is not None:
        water = water_mask(vp, water_velocity) == 0
        out[water] = vp[water]
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- survey

def _round_dt(limit):
    """Largest 1-2-5 value (1, 2 or 5 times a power of ten) not above ``limit``."""
    exponent = np.floor(np.log10(limit))
    for mantissa in (5.0, 2.0, 1.0):
        value = mantissa * 10.0 ** exponent
        if value <= limit * (1 + 1e-9):
            return float(f"{value:.12g}")
    return float(f"{10.0 ** exponent:.12g}")


def _depth_below_top(name, grid, value, default_cells):
    extent = grid.extent[-1]
    if value is None:
        value = default_cells * grid.spacing[-1]
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"surface_survey: {name} must be a number of metres; got "
                         f"{value!r}") from None
    if not (np.isfinite(value) and 0 <= value <= extent):
        raise ValueError(f"surface_survey: {name}={value} m is outside the grid, which spans "
                         f"0 to {extent} m below its top")
    return grid.origin[-1] + min(value, extent)


def surface_survey(grid, nshots=8, nrec=None, f0=10.0, duration=None, dt=None,
                   source_depth=None, receiver_depth=None):
    """A surface survey over ``grid``: a line of shots and a fixed spread of receivers.

    Sources: ``nshots`` point sources evenly spaced along x, at the centres of ``nshots``
    equal intervals of the x extent (one shot sits in the middle). In 3-D they lie on the
    line y = middle of the grid.

    Receivers (shared by all shots): in 2-D one at every grid point along x, or ``nrec``
    evenly spaced from the first to the last grid point. In 3-D, an areal spread at every
    surface grid point (x-major order), or ``nrec`` evenly spaced along each of x and y
    (``nrec`` = n gives n*n receivers; a pair ``(nrx, nry)`` gives nrx*nry).

    Defaults:
        * ``source_depth`` and ``receiver_depth``: two grid cells (``2 * dz``) below the top
          of the grid.
        * ``dt``: the largest of 1, 2 or 5 times a power of ten seconds that gives at least
          10 samples per period of ``3 * f0`` (the Ricker wavelet's band), i.e.
          ``dt <= 1 / (30 f0)``: 0.002 s for 10 Hz, 0.005 s for 5 Hz, 0.001 s for 20 Hz.
        * ``duration``: the two-way vertical time through the whole grid depth at water
          velocity (an upper bound for the deepest reflection near zero offset) plus
          ``3 / f0`` for the wavelet (its delay 1.5/f0 and its tail), capped at 8 s:
          ``min(2 * depth_extent / 1500 + 3 / f0, 8)``.
        * ``nt = round(duration / dt) + 1``.

    Args:
        grid: the :class:`keras_seismic.grid.Grid` of the model.
        nshots: number of shots (>= 1).
        nrec: number of receivers (see above), or None for one at every grid point.
        f0: peak frequency of the Ricker wavelet in Hz.
        duration: record length in seconds.
        dt: time sampling in seconds.
        source_depth: source depth in metres below the top of the grid (``grid.origin[-1]``).
        receiver_depth: receiver depth in metres below the top of the grid.

    Returns:
        :class:`keras_seismic.survey.Survey` with sources ``(nshots, 1, ndim)``, receivers
        ``(nshots, nrec, ndim)`` in metres and the wavelet ``ricker(f0, dt, nt)`` (peak at
        1.5 / f0 s) for every shot.

    Example:
        >>> grid, vp = layered(shape=(201, 101))
        >>> survey = surface_survey(grid, nshots=4, f0=10.0)
        >>> survey.nshots, survey.nrec, survey.dt, survey.nt
        (4, 201, 0.002, 818)
    """
    if not isinstance(grid, Grid):
        raise ValueError(f"surface_survey: grid must be a keras_seismic Grid; got "
                         f"{type(grid).__name__}")
    if isinstance(nshots, bool) or not isinstance(nshots, numbers.Integral) or nshots < 1:
        raise ValueError(f"surface_survey: nshots must be a whole number >= 1; got {nshots!r}")
    f0 = checks.number(f0, "surface_survey: f0 (Hz)", low=0)
    if dt is None:
        dt = _round_dt(1.0 / (30.0 * f0))
    dt = checks.number(dt, "surface_survey: dt (s)", low=0)
    if duration is None:
        duration = min(2.0 * grid.extent[-1] / WATER_VELOCITY + 3.0 / f0, 8.0)
    duration = checks.number(duration, "surface_survey: duration (s)", low=0)
    nt = int(round(duration / dt)) + 1
    if nt < 2:
        raise ValueError(f"surface_survey: duration={duration} s is shorter than dt={dt} s")

    ndim = grid.ndim
    src_z = _depth_below_top("source_depth", grid, source_depth, 2)
    rec_z = _depth_below_top("receiver_depth", grid, receiver_depth, 2)
    x0, lx = grid.origin[0], grid.extent[0]
    src_x = x0 + lx * (np.arange(nshots) + 0.5) / nshots

    def spread(axis, count):
        if count is None:
            return grid.origin[axis] + np.arange(grid.shape[axis]) * grid.spacing[axis]
        if count == 1:
            return np.array([grid.origin[axis] + 0.5 * grid.extent[axis]])
        return grid.origin[axis] + np.linspace(0.0, grid.extent[axis], count)

    counts = (nrec,) * (ndim - 1) if nrec is None or np.ndim(nrec) == 0 else tuple(nrec)
    if len(counts) != ndim - 1 or any(
            c is not None and (isinstance(c, bool) or not isinstance(c, numbers.Integral) or c < 1)
            for c in counts):
        what = "a whole number >= 1" if ndim == 2 else "a whole number >= 1 or a pair (nrx, nry)"
        raise ValueError(f"surface_survey: nrec must be None or {what}; got {nrec!r}")

    if ndim == 2:
        sources = np.stack([src_x, np.full(nshots, src_z)], axis=-1)
        rx = spread(0, counts[0])
        receivers = np.stack([rx, np.full(rx.size, rec_z)], axis=-1)
    else:
        y_mid = grid.origin[1] + 0.5 * grid.extent[1]
        sources = np.stack([src_x, np.full(nshots, y_mid), np.full(nshots, src_z)], axis=-1)
        rx, ry = np.meshgrid(spread(0, counts[0]), spread(1, counts[1]), indexing="ij")
        receivers = np.stack([rx.ravel(), ry.ravel(), np.full(rx.size, rec_z)], axis=-1)
    return Survey(sources=sources, receivers=receivers, dt=dt, nt=nt,
                  wavelet=ricker(f0, dt, nt))
