# keras-seismic: FWI and LS-RTM with Keras layers whose kernels Devito compiles at run time.
#   docker build -t keras-seismic .
#   mkdir -p out && docker run --rm -v "$PWD/out:/out" keras-seismic          # the demo
#   docker run --rm -v "$PWD:/work" -w /work keras-seismic fwi config.yaml      # your data
# Bookworm pins the compiler packages below (Debian 12's gcc 12).
FROM python:3.11-slim-bookworm

# Devito writes the C code of each kernel and compiles it, with gcc, into
# tempfile.gettempdir()/devito-jitcache-uid<uid>; TMPDIR points that at a folder any user
# may write to, so the image also runs under `docker run --user UID:GID`.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    KERAS_BACKEND=tensorflow \
    TMPDIR=/var/tmp/keras-seismic

RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc=4:12.2.0-3 g++=4:12.2.0-3 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY setup.py README.md ./
COPY keras_seismic ./keras_seismic
# The same install as CI's (`make test`: pip install -e ".[test]"), not editable.
RUN pip install --no-cache-dir "./[test]"

RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin seismic \
    && mkdir -p /out "$TMPDIR" \
    && chown seismic:seismic /out \
    && chmod 1777 "$TMPDIR"

USER 1000:1000
WORKDIR /home/seismic
VOLUME /out
ENTRYPOINT ["keras-seismic"]
CMD ["demo", "--out", "/out"]
