# A correct solution that computes in float32 (weights and biases are stored as float32),
# with im2col through precomputed gather indices (the classic "fast layers" recipe): one
# batched matrix product forward, np.add.at to scatter columns back. Pooling reuses the
# same indices with every channel treated as an image of its own.

# %% conv_output_size
def conv_output_size(size, kernel, stride=1, padding=0):
    steps = (size + 2 * padding - kernel) // stride
    return int(steps) + 1

# %% receptive_field
def receptive_field(num_layers, kernel=3):
    size = 1
    for layer in range(num_layers):
        size = size + kernel - 1
    return size

# %% conv2d_op
DTYPE = np.float32


def im2col_indices(channels, height, width, kh, kw, sh, sw):
    """Gather indices: rows are the (c, u, v) taps, columns the output positions (i, j)."""
    oh = (height - kh) // sh + 1
    ow = (width - kw) // sw + 1
    u = np.tile(np.repeat(np.arange(kh), kw), channels)
    v = np.tile(np.arange(kw), kh * channels)
    i = sh * np.repeat(np.arange(oh), ow)
    j = sw * np.tile(np.arange(ow), oh)
    rows = u[:, None] + i[None, :]                                   # (C*KH*KW, OH*OW)
    cols = v[:, None] + j[None, :]
    chan = np.repeat(np.arange(channels), kh * kw)[:, None]
    return chan, rows, cols, oh, ow


class Conv2dOp(Function):
    def __init__(self, stride=1, padding=0):
        self.stride = _pair(stride)
        self.padding = _pair(padding)

    def forward(self, x, w, b=None):
        (sh, sw), (ph, pw) = self.stride, self.padding
        n = x.shape[0]
        f, c, kh, kw = w.shape
        xp = np.pad(x.astype(DTYPE), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        chan, rows, cols, oh, ow = im2col_indices(c, xp.shape[2], xp.shape[3], kh, kw, sh, sw)
        col = xp[:, chan, rows, cols]                                    # (N, C*KH*KW, OH*OW)
        w_mat = w.reshape(f, -1).astype(DTYPE)
        out = w_mat @ col                                                # (N, F, OH*OW)
        if b is not None:
            out = out + b.astype(DTYPE)[:, None]
        self.ctx = (col, w_mat, xp.shape, (chan, rows, cols), w.shape, b is not None)
        return out.reshape(n, f, oh, ow)

    def backward(self, grad_out):
        col, w_mat, xp_shape, index, w_shape, has_bias = self.ctx
        ph, pw = self.padding
        n, f = grad_out.shape[:2]
        g = grad_out.reshape(n, f, -1).astype(DTYPE)                     # (N, F, OH*OW)
        dw = np.einsum("nfp,nkp->fk", g, col).reshape(w_shape)
        dcol = np.einsum("fk,nfp->nkp", w_mat, g)                        # (N, C*KH*KW, OH*OW)
        dxp = np.zeros(xp_shape, dtype=DTYPE)
        chan, rows, cols = index
        np.add.at(dxp, (slice(None), chan, rows, cols), dcol)
        dx = dxp[:, :, ph:xp_shape[2] - ph, pw:xp_shape[3] - pw]
        db = g.sum(axis=(0, 2)) if has_bias else None
        return dx, dw, db

# %% conv2d_layer
class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        kh, kw = self.kernel_size
        std = np.sqrt(2.0 / (in_channels * kh * kw))
        self.weight = Tensor((np.random.randn(out_channels, in_channels, kh, kw) * std).astype(DTYPE),
                             requires_grad=True)
        self.bias = Tensor(np.zeros(out_channels, dtype=DTYPE), requires_grad=True) if bias else None

    def forward(self, x):
        return Conv2dOp(self.stride, self.padding)(x, self.weight, self.bias)

# %% maxpool2d
class MaxPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, w = x.shape
        xp = np.pad(x.astype(DTYPE).reshape(n * c, 1, h, w), ((0, 0), (0, 0), (ph, ph), (pw, pw)),
                    constant_values=-np.inf)
        chan, rows, cols, oh, ow = im2col_indices(1, xp.shape[2], xp.shape[3], kh, kw, sh, sw)
        col = xp[:, chan, rows, cols]                                    # (N*C, KH*KW, OH*OW)
        self.best = col.argmax(axis=1)                                   # (N*C, OH*OW)
        self.ctx = (x.shape, xp.shape, rows, cols)
        return col.max(axis=1).reshape(n, c, oh, ow)

    def backward(self, grad_out):
        ph, pw = self.padding
        (n, c, h, w), xp_shape, rows, cols = self.ctx
        positions = np.arange(rows.shape[1])
        r = rows[self.best, positions]                                   # winner's row, per window
        q = cols[self.best, positions]
        dxp = np.zeros((n * c, xp_shape[2], xp_shape[3]), dtype=DTYPE)
        items = np.arange(n * c)[:, None]
        np.add.at(dxp, (items, r, q), grad_out.reshape(n * c, -1))
        return (dxp[:, ph:ph + h, pw:pw + w].reshape(n, c, h, w),)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return MaxPool2dOp(self.kernel_size, self.stride, self.padding)(x)

# %% avgpool2d
class AvgPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, w = x.shape
        xp = np.pad(x.astype(DTYPE).reshape(n * c, 1, h, w), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        chan, rows, cols, oh, ow = im2col_indices(1, xp.shape[2], xp.shape[3], kh, kw, sh, sw)
        col = xp[:, chan, rows, cols]                                    # (N*C, KH*KW, OH*OW)
        self.ctx = (x.shape, xp.shape, (chan, rows, cols))
        return col.mean(axis=1).reshape(n, c, oh, ow)

    def backward(self, grad_out):
        (kh, kw), (ph, pw) = self.kernel, self.padding
        (n, c, h, w), xp_shape, (chan, rows, cols) = self.ctx
        share = (grad_out.reshape(n * c, 1, -1) / (kh * kw)).astype(DTYPE)
        dcol = np.broadcast_to(share, (n * c, kh * kw, share.shape[2]))
        dxp = np.zeros(xp_shape, dtype=DTYPE)
        np.add.at(dxp, (slice(None), chan, rows, cols), dcol)
        return (dxp[:, 0, ph:ph + h, pw:pw + w].reshape(n, c, h, w),)


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return AvgPool2dOp(self.kernel_size, self.stride, self.padding)(x)

# %% flatten
class Flatten(Module):
    def __init__(self, start_dim=1):
        self.start_dim = start_dim

    def forward(self, x):
        return x.reshape(*x.shape[:self.start_dim], -1)

# %% simplecnn
class SimpleCNN(Module):
    def __init__(self, num_classes=10, in_channels=3, image_size=32):
        self.conv1 = Conv2d(in_channels, 32, 3, padding=1)
        self.relu1 = ReLU()
        self.pool1 = MaxPool2d(2)
        self.conv2 = Conv2d(32, 64, 3, padding=1)
        self.relu2 = ReLU()
        self.pool2 = MaxPool2d(2)
        self.flatten = Flatten()
        self.fc = Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        h = self.pool1(self.relu1(self.conv1(x)))
        h = self.pool2(self.relu2(self.conv2(h)))
        return self.fc(self.flatten(h))


def count_parameters(model):
    return int(np.sum([np.prod(p.shape) for p in model.parameters()]))
