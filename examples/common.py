"""A small survey shared by the examples: a layered model with a few surface shots."""

import keras_seismic as ks


def small_survey(shape=(80, 40), nshots=4, f0=12.0, duration=0.5, free_surface=False):
    """``(prop, vp)``: a layered model (m/s) and its propagator, sized for 2 cores."""
    grid, vp = ks.datasets.layered(shape=shape, spacing=10.0,
                                   velocities=(1800.0, 2200.0, 2600.0))
    survey = ks.datasets.surface_survey(grid, nshots=nshots, f0=f0, duration=duration)
    prop = ks.AcousticPropagator(grid, survey, space_order=8, absorbing_width=20,
                                 free_surface=free_surface)
    return prop, vp
