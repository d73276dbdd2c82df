"""The absorbing layer: how much of a wave it sends back, at normal and oblique incidence,
for the widths the package's defaults and examples use (40 and 20 cells)."""
import numpy as np
import pytest

import keras_seismic as ks

C, F0, H, DT, NT = 2000.0, 10.0, 10.0, 0.001, 1001
SMALL = (150, 300)          # the right boundary is near; the others are over 1 km away
RIGHT = (SMALL[0] - 1) * H  # x of the last grid point, where the layer begins
SHIFT = 150                 # cells the problem moves into the large grid


def record(shape, shift, source, receivers, width):
    grid = ks.Grid(shape, (H, H))
    offset = np.full(2, shift * H)
    survey = ks.Survey([np.asarray(source) + offset],
                       [np.asarray(r) + offset for r in receivers], DT, NT,
                       ks.ricker(F0, DT, NT))
    prop = ks.AcousticPropagator(grid, survey, space_order=8, absorbing_width=width)
    return prop.forward(np.full(shape, C, np.float32))[0]


def reflection_coefficient(source, receiver, image_distance, width):
    """Peak of the wave the right boundary sends to ``receiver`` over the peak of the
    direct wave at the distance of the image source, which a perfectly reflecting
    boundary would give. The reflected wave is the difference from the same run deep
    inside a grid whose boundaries are too far to be heard within the record."""
    near = record(SMALL, 0, source, [receiver], width)
    open_side = [source[0] - image_distance, source[1]]
    far = record((SMALL[0] + 2 * SHIFT, SMALL[1] + 2 * SHIFT), SHIFT, source,
                 [receiver, open_side], width)
    return np.abs(near[:, 0] - far[:, 0]).max() / np.abs(far[:, 1]).max()


def normal_incidence(width):
    d = 190.0  # source 190 m and receiver 90 m from the boundary, on one line across it
    return reflection_coefficient([RIGHT - d, 1500.0], [RIGHT - d + 100.0, 1500.0],
                                  2 * d - 100.0, width)


def oblique_incidence(width):
    d = 150.0  # source and receiver 150 m from the boundary, 300 m apart along it: 45 deg
    return reflection_coefficient([RIGHT - d, 1500.0 - d], [RIGHT - d, 1500.0 + d],
                                  2 * np.sqrt(2) * d, width)


# Measured on this kernel (space order 8, 10 Hz Ricker, 2000 m/s, 10 m cells):
# 40 cells 0.79% (normal) and 1.38% (45 degrees); 20 cells 4.5% and 7.4%.
@pytest.mark.parametrize("width,normal,oblique", [(40, 0.010, 0.017), (20, 0.055, 0.09)])
def test_reflection_coefficient_of_the_absorbing_layer(width, normal, oblique):
    r_normal, r_oblique = normal_incidence(width), oblique_incidence(width)
    assert 0 < r_normal < normal, r_normal
    assert 0 < r_oblique < oblique, r_oblique
    # A damping layer absorbs less of a wave that meets it obliquely.
    assert r_oblique > r_normal


def test_the_measurement_tells_a_thin_layer_from_a_wide_one():
    """Five cells send back a third of the wave: the measurement is not blind."""
    assert normal_incidence(5) > 0.25
