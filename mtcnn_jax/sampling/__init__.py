"""Training samples for MTCNN's three nets: crops, sample types and regression targets.

A *sample set* (:class:`~mtcnn_jax.sampling.sample_set.SampleSet`) holds
square crops resized to a net's input size (12, 24 or 48) with a type per
crop (:mod:`mtcnn_jax.losses`: negative, positive, part face, landmark) and
its targets. Crops come from

* random squares around and away from the annotated faces (all three nets),
  typed by their IoU with the faces (:class:`~mtcnn_jax.sampling.settings.IoUBands`:
  negative < 0.3, part 0.4-0.65, positive >= 0.65; in between: dropped);
* the candidates that the already-trained earlier stages of *our* cascade
  propose on the training images (R-Net and O-Net; "hard examples", paper
  section III.B), typed the same way;
* faces with 5-point landmarks (O-Net's landmark samples), randomly jittered
  and, for O-Net, also the candidates our P-/R-Net propose on those images.

Modules, in the order a sample is made:

* :mod:`~mtcnn_jax.sampling.training_images`: which images and faces
  (``annotations.json`` -> :class:`FaceImage`);
* :mod:`~mtcnn_jax.sampling.settings`: how many crops of which kind, IoU bands;
* :mod:`~mtcnn_jax.sampling.crops`: random square crops of one image, typed by IoU;
* :mod:`~mtcnn_jax.sampling.mining`: the crops our earlier stages propose;
* :mod:`~mtcnn_jax.sampling.targets`: box and landmark targets, mirroring;
* :mod:`~mtcnn_jax.sampling.pixels`: cropping and area resizing;
* :mod:`~mtcnn_jax.sampling.per_image`: all samples of one image, and of many
  images in worker processes;
* :mod:`~mtcnn_jax.sampling.sample_set`: the arrays, saved as ``.npz``;
* :mod:`~mtcnn_jax.sampling.stage_samples`: one stage's whole set, cached.

Conventions, chosen so that trained nets plug into :mod:`mtcnn_jax.cascade`
unchanged (tests check both through the cascade's own functions):

* Boxes here are continuous pixel boxes ``[x1, y1, x2, y2)`` (``x2 = x1 +
  width``), the convention of the annotation files. A crop ``c`` is the
  cascade's MATLAB box ``[c1 + 1, c2 + 1, c3, c4]`` (``boxes.to_continuous``
  is the inverse), and is resampled exactly as the cascade resamples its
  R-/O-Net crops (area averaging, zero outside the image;
  :func:`~mtcnn_jax.sampling.pixels.crop_and_resize` equals
  ``pyramid.crop_and_resize(..., "area")``).
* Box targets are ``(face - crop) / (w, h, w, h)`` with the crop's width and
  height: ``boxes.calibrate(.., plus_one=True)`` (R-/O-Net, "bbreg") maps the
  crop and the target back onto the face exactly. P-Net's calibration uses
  ``w - 1`` (the original's), which moves a side by less than one target
  unit's worth of a pixel.
* Landmark targets are x1..x5 then y1..y5 (O-Net's output order),
  ``(point - crop_top_left - 0.5) / (w, h)``: the cascade places O-Net's
  points at ``w * p + x1 - 1`` (MATLAB) and then adds half a pixel
  (``boxes.continuous_landmarks``), so these targets give back the annotated
  points exactly.
* Horizontal flips mirror ``x -> W - x`` and swap the left/right eye and
  mouth corners (points are "image-left first" before and after).

Every image has its own seeded generator (``(seed, stage, image index)``), so
a sample set does not depend on how images are spread over worker
processes. Generation uses a process pool with a progress bar, and each
stage's set is cached as ``.npz`` under a key of everything it depends on
(:func:`~mtcnn_jax.sampling.stage_samples.stage_samples`).
"""
